// Package httpapi is millrace's HTTP/JSON API, version 1: topics, appends,
// reads by offset or time, long-polls and live tails, cross-partition
// merges and counts, truncation, health, readiness and metrics. The routes
// are listed in routes() and described for clients in docs/http-api.md and
// in the OpenAPI 3 document served at /v1/openapi.json (openapi.json, kept
// in step by a test).
//
// # Usage
//
//	api := httpapi.New(httpapi.Options{Log: l, Metrics: m, MaxRequestBytes: 32 << 20})
//	srv := &http.Server{Handler: api.Handler()}
//	...
//	api.Drain()          // end long-polls and follows, refuse new ones
//	srv.Shutdown(ctx)    // then wait for in-flight requests
//
// # The append hot path
//
// An append body (JSON or NDJSON) is read whole (bounded by
// MaxRequestBytes) and scanned by a small purpose-built JSON scanner
// (scan.go) that records where each key, value and header value lies in
// the body, copying only strings that hold escapes or base64. Records are
// then grouped by partition and each group goes to Log.Append as one batch;
// groups for different partitions are appended concurrently, so that one
// group commit can cover them all. Per request, the buffers come from a
// pool: a 1,000-record NDJSON append allocates a handful of objects, not
// one per record.
//
// # Errors
//
// Every error is JSON, {"error": "...", "code": "..."}, with the status
// mapped from the Log's sentinel errors in errors.go. Bad input is a 4xx
// naming the field and value, never a 500; a panicking handler is caught,
// logged with its stack, and answered with a 500.
package httpapi
