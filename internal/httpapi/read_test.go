package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// appendAt appends records with values v<i> and timestamps base+i*step.
func (ts *testServer) appendAt(topic string, part, n int, base, step int64, prefix string) {
	ts.t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"key\":\"k%d\",\"value\":\"%s%d\",\"partition\":%d,\"timestamp\":%d}\n", i%3, prefix, i, part, base+int64(i)*step)
	}
	if st, _, data := ts.do("POST", "/v1/topics/"+topic+"/records", "application/x-ndjson", b.String()); st != http.StatusOK {
		ts.t.Fatalf("append: %d %s", st, data)
	}
}

func TestReadParameters(t *testing.T) {
	ts := start(t, nil, nil)
	ts.appendAt("r", 0, 10, 1_000_000, 1000, "a") // ts 1,000,000 .. 1,009,000
	ts.appendAt("r", 0, 10, 2_000_000, 1000, "b") // offsets 10..19
	read := func(q string) readResp {
		t.Helper()
		var rr readResp
		ts.call("GET", "/v1/topics/r/partitions/0/records"+q, nil, http.StatusOK, &rr)
		return rr
	}
	if rr := read(""); len(rr.Records) != 20 || rr.NextOffset != 20 {
		t.Fatalf("default read: %d records, next %d", len(rr.Records), rr.NextOffset)
	}
	if rr := read("?offset=5&limit=3"); len(rr.Records) != 3 || rr.Records[0].Offset != 5 || rr.NextOffset != 8 {
		t.Fatalf("offset+limit: %+v", rr)
	}
	if rr := read("?offset=latest"); len(rr.Records) != 0 || rr.NextOffset != 20 {
		t.Fatalf("latest: %+v", rr)
	}
	// since uses the time index; until ends the span (exclusive).
	if rr := read("?since=1005000&until=2002000"); len(rr.Records) != 7 || rr.Records[0].Offset != 5 || rr.Records[6].Offset != 11 || rr.NextOffset != 12 {
		t.Fatalf("since/until: %d records %+v", len(rr.Records), rr)
	}
	if rr := read("?since=1970-01-01T00:33:20.000Z"); len(rr.Records) != 10 || str(rr.Records[0].Value) != "b0" {
		t.Fatalf("since RFC 3339: %+v", rr)
	}
	if rr := read("?key=k1"); len(rr.Records) != 6 || str(rr.Records[0].Value) != "a1" || str(rr.Records[5].Value) != "b7" {
		t.Fatalf("key filter: %+v", rr)
	}
	if rr := read("?key=k1&limit=2"); len(rr.Records) != 2 || rr.NextOffset != 5 {
		t.Fatalf("key filter with limit: next %d, %+v", rr.NextOffset, rr)
	}
	if rr := read("?isolation=durable&max_bytes=1"); len(rr.Records) != 10 || rr.NextOffset != 10 {
		t.Fatalf("max_bytes=1 reads one batch: %d records next %d", len(rr.Records), rr.NextOffset)
	}
	for q, mention := range map[string]string{
		"?offset=-3":              "offset",
		"?limit=0":                "limit",
		"?limit=abc":              "limit",
		"?max_bytes=999999999999": "max_bytes",
		"?since=tuesday":          "since",
		"?since=5&until=4":        "before since",
		"?since=5&offset=1":       "not both",
		"?isolation=strict":       "isolation",
		"?follow=maybe":           "follow",
		"?wait_ms=-1":             "wait_ms",
		"?ofset=3":                `unknown query parameter "ofset"`,
	} {
		ts.wantError("GET", "/v1/topics/r/partitions/0/records"+q, "", "", http.StatusBadRequest, "invalid", mention)
	}
	ts.wantError("GET", "/v1/topics/r/partitions/0/records?offset=21", "", "", http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range", "high watermark 20")
	ts.wantError("GET", "/v1/topics/r/partitions/1/records", "", "", http.StatusNotFound, "unknown_partition", "no partition 1")
	ts.wantError("GET", "/v1/topics/none/partitions/0/records", "", "", http.StatusNotFound, "unknown_topic", `topic "none" not found`)
}

func TestLongPollAnswersWhenARecordArrives(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics", `{"name":"lp"}`, http.StatusCreated, nil)
	// Empty at the deadline.
	began := time.Now()
	var rr readResp
	ts.call("GET", "/v1/topics/lp/partitions/0/records?wait_ms=150", nil, http.StatusOK, &rr)
	if len(rr.Records) != 0 || time.Since(began) < 150*time.Millisecond {
		t.Fatalf("empty long-poll: %+v after %v", rr, time.Since(began))
	}
	// A record appended while the poll waits ends it at once.
	done := make(chan readResp)
	go func() {
		var rr readResp
		ts.call("GET", "/v1/topics/lp/partitions/0/records?offset=0&wait_ms=20000", nil, http.StatusOK, &rr)
		done <- rr
	}()
	began = time.Now()
	ts.call("POST", "/v1/topics/lp/records", `{"records":[{"value":"wake"}]}`, http.StatusOK, nil)
	select {
	case rr := <-done:
		if len(rr.Records) != 1 || str(rr.Records[0].Value) != "wake" || rr.NextOffset != 1 {
			t.Fatalf("long-poll answer %+v", rr)
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("long-poll took %v", time.Since(began))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long-poll did not answer after an append")
	}
}

// followLines opens a follow stream and returns its lines on a channel.
func (ts *testServer) followLines(ctx context.Context, path, accept string) (<-chan string, *http.Response) {
	ts.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.base+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, resp
}

// writer appends n records in requests of 7, concurrently with the test.
func (ts *testServer) writer(topic string, n int) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i += 7 {
			ts.do("POST", "/v1/topics/"+topic+"/records", "application/x-ndjson", ndjson(min(7, n-i), fmt.Sprintf("w%d", i), ""))
		}
	}()
	return &wg
}

func TestFollowStreamsNDJSONWhileAWriterAppends(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics/f/records", `{"records":[{"value":"before"}]}`, http.StatusOK, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, resp := ts.followLines(ctx, "/v1/topics/f/partitions/0/records?follow=true&offset=0", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	wg := ts.writer("f", 100)
	defer wg.Wait()
	deadline := time.After(15 * time.Second)
	for want := int64(0); want <= 100; want++ {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended after %d records", want)
			}
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.Offset != want {
				t.Fatalf("line %q: offset %d, want %d (%v)", line, r.Offset, want, err)
			}
		case <-deadline:
			t.Fatalf("only %d records streamed", want)
		}
	}
}

func TestFollowServerSentEventsWithLimit(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics", `{"name":"sse"}`, http.StatusCreated, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Default start when following: the end, so only new records.
	lines, resp := ts.followLines(ctx, "/v1/topics/sse/partitions/0/records?follow=true&limit=20", "text/event-stream")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	wg := ts.writer("sse", 30)
	defer wg.Wait()
	ids, datas := 0, 0
	for line := range lines { // the stream ends by itself at the limit
		switch {
		case strings.HasPrefix(line, "id: "):
			if line != fmt.Sprintf("id: %d", ids) {
				t.Fatalf("event %d has %q", ids, line)
			}
			ids++
		case strings.HasPrefix(line, "data: "):
			var r record
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &r); err != nil {
				t.Fatalf("data line %q: %v", line, err)
			}
			datas++
		case line == "" || strings.HasPrefix(line, ":"):
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if ids != 20 || datas != 20 {
		t.Fatalf("stream had %d ids and %d data lines, want 20", ids, datas)
	}
}

func TestShutdownEndsFollowStreams(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics", `{"name":"s"}`, http.StatusCreated, nil)
	lines, _ := ts.followLines(context.Background(), "/v1/topics/s/partitions/0/records?follow=true", "")
	began := time.Now()
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("shutdown with an open follow stream took %v", took)
	}
}

func TestMergedReadAndCount(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics", `{"name":"m","partitions":3}`, http.StatusCreated, nil)
	// Partition p holds timestamps 1000*i + p: a merge interleaves them.
	for p := range 3 {
		ts.appendAt("m", p, 20, int64(10_000+p), 1000, fmt.Sprintf("p%d-", p))
	}
	var mr struct {
		Records     []record         `json:"records"`
		NextOffsets map[string]int64 `json:"next_offsets"`
	}
	ts.call("GET", "/v1/topics/m/records?limit=1000", nil, http.StatusOK, &mr)
	if len(mr.Records) != 60 {
		t.Fatalf("merged %d records", len(mr.Records))
	}
	for i := 1; i < len(mr.Records); i++ {
		if mr.Records[i].TimestampMs <= mr.Records[i-1].TimestampMs {
			t.Fatalf("merge out of order at %d: %+v then %+v", i, mr.Records[i-1], mr.Records[i])
		}
	}
	mr.Records = nil
	ts.call("GET", "/v1/topics/m/records?since=15000&until=18002&limit=4", nil, http.StatusOK, &mr)
	if len(mr.Records) != 4 || mr.Records[0].TimestampMs != 15000 || mr.Records[3].TimestampMs != 16000 ||
		mr.NextOffsets["0"] != 7 || mr.NextOffsets["1"] != 6 || mr.NextOffsets["2"] != 6 {
		t.Fatalf("since/until/limit: %+v", mr)
	}
	// Resume from next_offsets.
	mr.Records = nil
	ts.call("GET", "/v1/topics/m/records?until=18002&offsets=0:7,1:6,2:6", nil, http.StatusOK, &mr)
	if len(mr.Records) != 7 || mr.Records[0].TimestampMs != 16001 || mr.Records[6].TimestampMs != 18001 {
		t.Fatalf("resumed: %+v", mr.Records)
	}

	var cr struct {
		Count      int64 `json:"count"`
		Partitions []struct {
			Count int64 `json:"count"`
		} `json:"partitions"`
	}
	ts.call("GET", "/v1/topics/m/count?since=15000&until=18002", nil, http.StatusOK, &cr)
	if cr.Count != 11 || cr.Partitions[0].Count != 4 || cr.Partitions[2].Count != 3 {
		t.Fatalf("count: %+v", cr)
	}
	ts.call("GET", "/v1/topics/m/count", nil, http.StatusOK, &cr)
	if cr.Count != 60 {
		t.Fatalf("count all: %+v", cr)
	}
	ts.call("GET", "/v1/topics/m/count?partitions=1&since=1970-01-01T00:00:29Z", nil, http.StatusOK, &cr)
	if cr.Count != 1 {
		t.Fatalf("count partition 1 since 29000: %+v", cr)
	}
	ts.wantError("GET", "/v1/topics/m/count?partitions=5", "", "", http.StatusNotFound, "unknown_partition", "no partition 5")
	ts.wantError("GET", "/v1/topics/x/count", "", "", http.StatusNotFound, "unknown_topic", `"x"`)
	ts.wantError("GET", "/v1/topics/m/records?offsets=a", "", "", http.StatusBadRequest, "invalid", "offsets")
}
