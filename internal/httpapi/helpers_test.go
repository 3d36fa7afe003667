package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

// testServer is a real server on 127.0.0.1:0 over a temporary directory.
type testServer struct {
	t    testing.TB
	srv  *server.Server
	base string
	hc   *http.Client
	// failedLog makes a shutdown error expected (the test failed the log).
	failedLog bool
}

// start starts a server; cfgFn and optFn adjust its config and options.
func start(t testing.TB, cfgFn func(*config.Config), optFn func(*server.Options)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.HTTPAddr, cfg.KafkaAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MinFreeDiskBytes = 0
	if cfgFn != nil {
		cfgFn(&cfg)
	}
	opts := server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	if optFn != nil {
		optFn(&opts)
	}
	srv, err := server.Start(opts)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ts := &testServer{t: t, srv: srv, base: "http://" + srv.Addr(), hc: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil && !ts.failedLog {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ts
}

// do sends a request and returns the status, headers and body.
func (ts *testServer) do(method, path, ctype, body string) (int, http.Header, []byte) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.base+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := ts.hc.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

// call sends JSON (in may be nil), checks the status and decodes into out.
func (ts *testServer) call(method, path string, in any, want int, out any) []byte {
	ts.t.Helper()
	body := ""
	if in != nil {
		switch v := in.(type) {
		case string:
			body = v
		default:
			b, err := json.Marshal(in)
			if err != nil {
				ts.t.Fatal(err)
			}
			body = string(b)
		}
	}
	status, _, data := ts.do(method, path, "application/json", body)
	if status != want {
		ts.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			ts.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return data
}

// wantError checks an error answer: status, code, and a message that
// mentions each of mention.
func (ts *testServer) wantError(method, path, ctype, body string, status int, code string, mention ...string) http.Header {
	ts.t.Helper()
	got, hdr, data := ts.do(method, path, ctype, body)
	var e struct{ Error, Code string }
	if err := json.Unmarshal(data, &e); err != nil {
		ts.t.Fatalf("%s %s: error body %q is not JSON: %v", method, path, data, err)
	}
	if got != status || e.Code != code {
		ts.t.Fatalf("%s %s: got %d %q (%s), want %d %q", method, path, got, e.Code, e.Error, status, code)
	}
	for _, m := range mention {
		if !strings.Contains(e.Error, m) {
			ts.t.Fatalf("%s %s: error %q does not mention %q", method, path, e.Error, m)
		}
	}
	return hdr
}

// record is a record as the API returns it.
type record struct {
	Partition   int32   `json:"partition"`
	Offset      int64   `json:"offset"`
	Timestamp   string  `json:"timestamp"`
	TimestampMs int64   `json:"timestamp_ms"`
	Key         *string `json:"key"`
	Value       *string `json:"value"`
	Encoding    string  `json:"encoding"`
	Headers     []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	} `json:"headers"`
}

type readResp struct {
	Records        []record `json:"records"`
	NextOffset     int64    `json:"next_offset"`
	HighWatermark  int64    `json:"high_watermark"`
	DurableOffset  int64    `json:"durable_offset"`
	LogStartOffset int64    `json:"log_start_offset"`
}

type appendResp struct {
	Records []struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
	} `json:"records"`
	Partitions []struct {
		Partition  int32 `json:"partition"`
		Count      int   `json:"count"`
		BaseOffset int64 `json:"base_offset"`
		LastOffset int64 `json:"last_offset"`
	} `json:"partitions"`
}

// ndjson builds an NDJSON body of n records with values prefix-i.
func ndjson(n int, prefix string, extra string) string {
	var b bytes.Buffer
	for i := range n {
		b.WriteString(`{"value":"`)
		b.WriteString(prefix)
		b.WriteString("-")
		b.WriteString(itoa(i))
		b.WriteString(`"`)
		b.WriteString(extra)
		b.WriteString("}\n")
	}
	return b.String()
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// eventually retries cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
