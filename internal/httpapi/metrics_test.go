package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
)

func TestMetricsCountAppendsReadsAndRequests(t *testing.T) {
	ts := start(t, nil, nil)
	ts.do("POST", "/v1/topics/met/records", "application/x-ndjson", ndjson(25, "m", ""))
	ts.call("GET", "/v1/topics/met/partitions/0/records?limit=10", nil, http.StatusOK, nil)
	ts.wantError("GET", "/v1/topics/nope", "", "", http.StatusNotFound, "unknown_topic")
	status, hdr, body := ts.do("GET", "/metrics", "", "")
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", status, hdr.Get("Content-Type"))
	}
	text := string(body)
	for _, want := range []string{
		`millrace_append_records_total{topic="met"} 25`,
		`millrace_read_records_total{topic="met"} 10`,
		`millrace_http_request_duration_seconds_count{code="200",route="POST /v1/topics/{topic}/records"} 1`,
		`millrace_http_request_duration_seconds_count{code="404",route="GET /v1/topics/{topic}"} 1`,
		`millrace_topics 1`,
		`millrace_partitions 1`,
		`millrace_segments{shard="0"} 1`,
		`millrace_pending_bytes{shard="0"} 0`,
		`millrace_read_only 0`,
		`millrace_disk_usage_bytes `,
		`millrace_append_bytes_total{topic="met"} `,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("GET", "/healthz", nil, http.StatusOK, nil)
	var rz struct {
		Status   string `json:"status"`
		ReadOnly bool   `json:"read_only"`
	}
	ts.call("GET", "/readyz", nil, http.StatusOK, &rz)
	if rz.Status != "ready" || rz.ReadOnly {
		t.Fatalf("readyz %+v", rz)
	}
	st, _, body := ts.do("GET", "/v1/openapi.json", "", "")
	if st != http.StatusOK || !strings.Contains(string(body), `"openapi": "3.`) {
		t.Fatalf("openapi: %d %.100s", st, body)
	}
}

// BenchmarkHTTPAppendNDJSON1000 measures appends over HTTP of NDJSON bodies
// of 1,000 records of 128-byte values, durable acks (fsync always, group
// commit) and memory acks, from 8 concurrent clients on the same machine.
// It reports records/s, and shed/op: appends refused with 429 (and
// retried) because ack=memory clients outran the disk.
func BenchmarkHTTPAppendNDJSON1000(b *testing.B) {
	for _, ack := range []string{"durable", "memory"} {
		b.Run("ack="+ack, func(b *testing.B) {
			ts := start(b, func(c *config.Config) { c.DefaultTopic.Partitions = 4 }, nil)
			value := strings.Repeat("v", 120)
			var body strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&body, "{\"value\":\"%s%08d\"}\n", value, i)
			}
			payload := body.String()
			path := ts.base + "/v1/topics/bench/records?ack=" + ack
			ts.do("POST", "/v1/topics/bench/records", "application/x-ndjson", payload) // create the topic
			var failures, shed atomic.Int64
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.SetParallelism(4)
			b.ResetTimer()
			began := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				for pb.Next() {
					for {
						resp, err := hc.Post(path, "application/x-ndjson", strings.NewReader(payload))
						if err != nil {
							failures.Add(1)
							break
						}
						drain(resp)
						if resp.StatusCode == http.StatusTooManyRequests {
							// Shed: ack=memory can outrun the disk. A real
							// client waits Retry-After; the benchmark
							// retries soon, and counts it.
							shed.Add(1)
							time.Sleep(time.Millisecond)
							continue
						}
						if resp.StatusCode != http.StatusOK {
							failures.Add(1)
						}
						break
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)*1000/time.Since(began).Seconds(), "records/s")
			b.ReportMetric(float64(shed.Load())/float64(b.N), "shed/op")
			if n := failures.Load(); n > 0 {
				b.Fatalf("%d appends failed", n)
			}
		})
	}
}

func drain(resp *http.Response) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}
