package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
)

func startTest(t *testing.T, cfgFn func(*config.Config), free func(string) (uint64, error)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Data, cfg.HTTPAddr, cfg.KafkaAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	if cfgFn != nil {
		cfgFn(&cfg)
	}
	s, err := Start(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), FreeSpace: free})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLowDiskMakesTheServerReadOnlyUntilSpaceReturns(t *testing.T) {
	var free atomic.Uint64
	free.Store(10 << 30)
	s := startTest(t, func(c *config.Config) {
		c.MinFreeDiskBytes = 1 << 30
		c.DiskCheckInterval = config.Duration(10 * time.Millisecond)
	}, func(string) (uint64, error) { return free.Load(), nil })
	base := "http://" + s.Addr()
	records := base + "/v1/topics/ro/records"
	if st, body := post(t, records, `{"records":[{"value":"before"}]}`); st != http.StatusOK {
		t.Fatalf("append with space: %d %s", st, body)
	}

	free.Store(100 << 20) // below the 1 GiB minimum
	var body string
	waitFor(t, "appends to get 503", func() bool {
		var st int
		st, body = post(t, records, `{"records":[{"value":"refused"}]}`)
		return st == http.StatusServiceUnavailable
	})
	var e struct{ Error, Code string }
	if json.Unmarshal([]byte(body), &e); e.Code != "read_only" || !strings.Contains(e.Error, "min_free_disk_bytes") {
		t.Fatalf("read-only error %s", body)
	}
	if st, body := post(t, base+"/v1/topics", `{"name":"new"}`); st != http.StatusServiceUnavailable {
		t.Fatalf("create topic while read-only: %d %s", st, body)
	}
	if st, body := get(t, base+"/v1/topics/ro/partitions/0/records"); st != http.StatusOK || !strings.Contains(body, `"before"`) {
		t.Fatalf("read while read-only: %d %s", st, body)
	}
	if st, body := get(t, base+"/readyz"); st != http.StatusOK || !strings.Contains(body, `"read_only":true`) {
		t.Fatalf("readyz while read-only: %d %s", st, body)
	}
	if _, m := get(t, base+"/metrics"); !strings.Contains(m, "millrace_read_only 1") ||
		!strings.Contains(m, `millrace_shed_requests_total{reason="read_only"}`) || !strings.Contains(m, "millrace_disk_free_bytes 1.048576e+08") {
		t.Fatalf("metrics while read-only lack the gauges:\n%s", m)
	}

	free.Store(2 << 30)
	waitFor(t, "appends to resume", func() bool {
		st, _ := post(t, records, `{"records":[{"value":"after"}]}`)
		return st == http.StatusOK
	})
}

func TestFailingFreeSpaceCheckDoesNotStopWrites(t *testing.T) {
	var calls atomic.Int64
	s := startTest(t, func(c *config.Config) {
		c.MinFreeDiskBytes = 1 << 30
		c.DiskCheckInterval = config.Duration(5 * time.Millisecond)
	}, func(string) (uint64, error) { calls.Add(1); return 0, errors.New("statfs: EIO") })
	waitFor(t, "a few checks", func() bool { return calls.Load() > 3 })
	if st, body := post(t, "http://"+s.Addr()+"/v1/topics/x/records", `{"records":[{"value":"v"}]}`); st != http.StatusOK {
		t.Fatalf("append: %d %s", st, body)
	}
}

func TestRealFreeSpaceIsMeasured(t *testing.T) {
	n, err := FreeSpace(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("FreeSpace = %d, %v", n, err)
	}
	if _, err := FreeSpace("/no/such/dir"); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Fatalf("FreeSpace of a missing dir: %v", err)
	}
}

func TestShutdownKeepsAcknowledgedRecordsAndRestartRecovers(t *testing.T) {
	dir := t.TempDir()
	cfgFn := func(c *config.Config) { c.Data = dir }
	s := startTest(t, cfgFn, nil)
	base := "http://" + s.Addr()
	for i := range 5 {
		if st, body := post(t, base+"/v1/topics/k/records?ack=memory", `{"records":[{"value":"m"},{"value":"n"}]}`); st != 200 {
			t.Fatalf("append %d: %d %s", i, st, body)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("the listener still answers after Shutdown")
	}
	s2 := startTest(t, cfgFn, nil)
	if st, body := get(t, "http://"+s2.Addr()+"/v1/topics/k/count"); st != http.StatusOK || !strings.Contains(body, `"count":10`) {
		t.Fatalf("after restart: %d %s", st, body)
	}
}

func TestStartFailsClearly(t *testing.T) {
	s := startTest(t, nil, nil)
	cfg := config.Default()
	cfg.Data, cfg.HTTPAddr = t.TempDir(), s.Addr() // taken
	_, err := Start(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "listen for HTTP on "+s.Addr()) {
		t.Fatalf("start on a taken port: %v", err)
	}
	cfg.HTTPAddr = "nonsense"
	if _, err := Start(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("start with a bad config: %v", err)
	}
}

// The server drives retention (and counts it): old segments go, the log
// start moves, the metrics say so.
func TestServerRunsRetention(t *testing.T) {
	s := startTest(t, func(c *config.Config) {
		c.SegmentBytes = 1 << 20
		c.RetentionInterval = config.Duration(time.Second)
	}, nil)
	base := "http://" + s.Addr()
	if st, body := post(t, base+"/v1/topics", `{"name":"old","config":{"retention.ms":60000}}`); st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, body)
	}
	// Three requests of ~600 KB with timestamps from 1970: the first
	// segments seal full of expired records.
	value := strings.Repeat("x", 1000)
	for range 3 {
		var b strings.Builder
		b.WriteString(`{"records":[`)
		for i := range 600 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"value":"` + value + `","timestamp":1000}`)
		}
		b.WriteString("]}")
		if st, body := post(t, base+"/v1/topics/old/records", b.String()); st != http.StatusOK {
			t.Fatalf("append: %d %.200s", st, body)
		}
	}
	waitFor(t, "retention to delete a segment", func() bool {
		_, m := get(t, base+"/metrics")
		return !strings.Contains(m, "millrace_retention_segments_deleted_total 0") &&
			strings.Contains(m, "millrace_retention_segments_deleted_total")
	})
	_, body := get(t, base+"/v1/topics/old")
	if strings.Contains(body, `"log_start_offset":0,`) {
		t.Fatalf("log start did not move: %s", body)
	}
	// The durable appends went through group commits the engine reported.
	_, m := get(t, base+"/metrics")
	for _, want := range []string{`millrace_fsync_duration_seconds_count{shard="0"}`, `millrace_flush_write_duration_seconds_count{shard="0"}`, "millrace_group_commit_appends_count", "millrace_group_commit_bytes_sum"} {
		if !strings.Contains(m, want) || strings.Contains(m, want+" 0\n") {
			t.Fatalf("metrics lack %s:\n%s", want, m)
		}
	}
}
