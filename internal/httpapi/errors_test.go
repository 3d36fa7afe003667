package httpapi_test

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/vfs"
)

func TestUnknownRoutesAndMethods(t *testing.T) {
	ts := start(t, nil, nil)
	ts.wantError("GET", "/v2/topics", "", "", http.StatusNotFound, "not_found", "/v2/topics")
	hdr := ts.wantError("PUT", "/v1/topics/x", "", "", http.StatusMethodNotAllowed, "method_not_allowed", "PUT")
	if hdr.Get("Allow") != "GET, PATCH, DELETE" {
		t.Fatalf("Allow: %q", hdr.Get("Allow"))
	}
}

func TestBodyOverTheLimitIs413(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.MaxRequestBytes = 1024 }, nil)
	big := ndjson(200, strings.Repeat("x", 20), "")
	ts.wantError("POST", "/v1/topics/big/records", "application/x-ndjson", big, http.StatusRequestEntityTooLarge, "too_large", "1024 bytes")
	ts.wantError("POST", "/v1/topics", "application/json", `{"name":"`+strings.Repeat("n", 2000)+`"}`,
		http.StatusRequestEntityTooLarge, "too_large", "max_request_bytes")
	// A batch over the topic's max.message.bytes is 413 as well.
	ts2 := start(t, func(c *config.Config) { c.DefaultTopic.MaxMessageBytes = 2000 }, nil)
	ts2.wantError("POST", "/v1/topics/mm/records", "application/x-ndjson", ndjson(100, strings.Repeat("y", 40), ""),
		http.StatusRequestEntityTooLarge, "too_large", "partition 0")
}

// A stalled disk (fsync blocked) with a small memory bound: the next
// append is shed with 429 and a Retry-After in whole seconds.
func TestOverloadIs429WithRetryAfter(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	ts := start(t, func(c *config.Config) { c.MaxPendingBytes = 64 << 10 }, func(o *server.Options) { o.FS = efs })
	ts.call("POST", "/v1/topics", `{"name":"o"}`, http.StatusCreated, nil)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			<-release
		}
		return nil
	})
	big := ndjson(1, strings.Repeat("z", 100<<10), "")
	if st, _, body := ts.do("POST", "/v1/topics/o/records?ack=memory", "application/x-ndjson", big); st != http.StatusOK {
		t.Fatalf("first append: %d %s", st, body)
	}
	pending := func() bool {
		st := ts.srv.Log().Stats()
		return st.Shards[0].PendingBytes > 0
	}
	eventually(t, "the first append to be pending", pending)
	hdr := ts.wantError("POST", "/v1/topics/o/records", "application/x-ndjson", ndjson(3, "small", ""),
		http.StatusTooManyRequests, "overloaded", "overloaded")
	if ra := hdr.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1 (whole seconds, at least 1)", ra)
	}
	unblock()
	efs.SetInjector(nil)
	eventually(t, "the stall to clear", func() bool { return !pending() })
	if st, _, body := ts.do("POST", "/v1/topics/o/records", "application/x-ndjson", ndjson(3, "after", "")); st != http.StatusOK {
		t.Fatalf("append after the stall: %d %s", st, body)
	}
	var mr struct{ Count int64 }
	ts.call("GET", "/v1/topics/o/count", nil, http.StatusOK, &mr)
	if mr.Count != 4 {
		t.Fatalf("%d records stored, want 4", mr.Count)
	}
}

// A failed fsync fails the shard: appends get 503, reads go on.
func TestStorageFailureIs503(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	ts := start(t, nil, func(o *server.Options) { o.FS = efs })
	ts.call("POST", "/v1/topics/s/records", `{"records":[{"value":"ok"}]}`, http.StatusOK, nil)
	ts.failedLog = true
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return os.ErrInvalid
		}
		return nil
	})
	ts.wantError("POST", "/v1/topics/s/records", "application/json", `{"records":[{"value":"lost"}]}`,
		http.StatusServiceUnavailable, "storage_failure", "storage failure")
	efs.SetInjector(nil)
	var rr readResp
	ts.call("GET", "/v1/topics/s/partitions/0/records?isolation=durable", nil, http.StatusOK, &rr)
	if len(rr.Records) != 1 {
		t.Fatalf("durable read after the failure: %+v", rr)
	}
}

// Topic names with invalid characters or 10,000 characters get 400 on
// create and on auto-creating appends, 404 on reads, and nothing is made.
func TestInvalidAndHugeTopicNames(t *testing.T) {
	ts := start(t, nil, nil)
	for _, name := range []string{"bad%2Fname", "spaces%20here", strings.Repeat("x", 10000), "%C3%BCnicode"} {
		ts.wantError("POST", "/v1/topics/"+name+"/records", "application/x-ndjson", ndjson(1, "v", ""), http.StatusBadRequest, "invalid", "topic name")
		ts.wantError("GET", "/v1/topics/"+name+"/partitions/0/records", "", "", http.StatusNotFound, "unknown_topic")
	}
	ts.wantError("POST", "/v1/topics", "application/json", `{"name":"`+strings.Repeat("x", 10000)+`"}`, http.StatusBadRequest, "invalid", "topic name")
	ts.wantError("POST", "/v1/topics", "application/json", `{"name":"a/b"}`, http.StatusBadRequest, "invalid", "topic name")
	ts.call("POST", "/v1/topics", `{"name":"fine"}`, http.StatusCreated, nil)
}
