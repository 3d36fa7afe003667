package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace"
)

// apiError is an error with its HTTP status and machine-readable code.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter time.Duration // for 429: the Retry-After hint
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "invalid", format, args...)
}

// The read-only answer.
func errReadOnly() *apiError {
	return errorf(http.StatusServiceUnavailable, "read_only",
		"the server is read-only: free disk space on the data directory is below min_free_disk_bytes; reads still work")
}

// toAPIError maps an error from the Log (or from reading the request) to
// its status and code. what names the operation and its input, for errors
// whose own text does not.
func toAPIError(err error, what string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	msg := cleanMessage(err)
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "too_large",
			"%s: the request body is larger than the limit of %d bytes (max_request_bytes)", what, mbe.Limit)
	case errors.Is(err, millrace.ErrUnknownTopic):
		return errorf(http.StatusNotFound, "unknown_topic", "%s", msg)
	case errors.Is(err, millrace.ErrUnknownPartition):
		return errorf(http.StatusNotFound, "unknown_partition", "%s", msg)
	case errors.Is(err, millrace.ErrTopicExists):
		return errorf(http.StatusConflict, "topic_exists", "%s: %s", what, msg)
	case errors.Is(err, millrace.ErrOffsetMismatch):
		return errorf(http.StatusConflict, "offset_mismatch", "%s", msg)
	case errors.Is(err, millrace.ErrOffsetOutOfRange):
		return errorf(http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range", "%s", msg)
	case errors.Is(err, millrace.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "%s: %s", what, msg)
	case errors.Is(err, millrace.ErrOverloaded):
		e := errorf(http.StatusTooManyRequests, "overloaded", "%s", msg)
		e.retryAfter = millrace.RetryAfter(err)
		return e
	case errors.Is(err, millrace.ErrInvalid), errors.Is(err, millrace.ErrInvalidBatch), errors.Is(err, millrace.ErrCorruptBatch):
		return errorf(http.StatusBadRequest, "invalid", "%s: %s", what, msg)
	case errors.Is(err, millrace.ErrClosed):
		return errorf(http.StatusServiceUnavailable, "shutting_down", "%s: the server is shutting down", what)
	case errors.Is(err, millrace.ErrStorage):
		return errorf(http.StatusServiceUnavailable, "storage_failure", "%s", msg)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "canceled", "%s: %s", what, msg)
	}
	return errorf(http.StatusInternalServerError, "internal", "%s: %s", what, msg)
}

// cleanMessage drops the "millrace: " prefixes the Log's errors carry: the
// API's clients know who answered.
func cleanMessage(err error) string {
	return strings.ReplaceAll(err.Error(), "millrace: ", "")
}

// unknownTopic is the 404 for a topic, phrased for people.
func unknownTopic(name string) *apiError {
	return errorf(http.StatusNotFound, "unknown_topic", "topic %q not found", name)
}

// retryAfterSeconds is Retry-After for a hint: whole seconds, rounded up,
// at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// writeError answers with err as JSON. A 429 gets Retry-After.
func writeError(w http.ResponseWriter, err *apiError) {
	if err.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(err.retryAfter)))
	}
	writeJSON(w, err.status, errorBody{Error: err.msg, Code: err.code})
}

// fail maps err and answers with it, counting shed requests.
func (a *API) fail(w http.ResponseWriter, err error, what string) {
	ae := toAPIError(err, what)
	switch ae.code {
	case "overloaded":
		a.met.Shed("overloaded")
	case "read_only":
		a.met.Shed("read_only")
	}
	writeError(w, ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// decodeJSONBody decodes a small JSON request body into v, rejecting
// unknown fields and trailing data, with errors that name the problem.
func decodeJSONBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &se):
			return badRequest("request body is not valid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return badRequest("request body: field %q must be a %s, not a JSON %s", te.Field, te.Type, te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body is not valid JSON: it ends in the middle of a value")
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty; want a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest("request body: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return badRequest("request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}
