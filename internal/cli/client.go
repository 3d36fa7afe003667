package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/millrace/millrace/internal/httpapi"
)

// client calls a millrace server's HTTP API.
type client struct {
	base string // e.g. http://127.0.0.1:8080, without a trailing slash
	hc   *http.Client
}

func newClient(server string) (*client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q is not an http:// or https:// URL", server)
	}
	return &client{base: strings.TrimRight(server, "/"), hc: &http.Client{}}, nil
}

// serverError is an error answer of the API.
type serverError struct {
	Status  int
	Code    string
	Message string
}

func (e *serverError) Error() string { return e.Message }

// do sends a request and returns the response if its status is 2xx; else
// it returns the API's error message as an error. The caller closes the
// body.
func (c *client) do(ctx context.Context, method, path string, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		var oe *net.OpError
		if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &oe) {
			return nil, fmt.Errorf("cannot reach the server at %s (is 'millrace serve' running? set --server or MILLRACE_SERVER): %v", c.base, rootCause(err))
		}
		return nil, fmt.Errorf("%s %s%s: %w", method, c.base, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	return nil, &serverError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
}

// call sends a JSON request (in may be nil) and decodes a JSON answer into
// out (which may be nil).
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, ct, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer from the server: %w", method, path, err)
	}
	return nil
}

// rootCause unwraps err to its innermost error, for short messages.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// topicPath is /v1/topics/NAME with NAME escaped.
func topicPath(topic string, rest ...string) string {
	p := "/v1/topics/" + url.PathEscape(topic)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// topicInfo is a topic as the API describes it: the API's own type.
type topicInfo = httpapi.TopicJSON

func (c *client) describe(ctx context.Context, topic string) (topicInfo, error) {
	var ti topicInfo
	err := c.call(ctx, http.MethodGet, topicPath(topic), nil, &ti)
	return ti, err
}
