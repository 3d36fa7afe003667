package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/partitioner"
)

func TestAppendJSONRoundTripsEveryField(t *testing.T) {
	ts := start(t, nil, nil)
	body := `{"records":[
		{"key":"k1","value":"plain \"quoted\" é \u263a\n","headers":{"h1":"v1","h2":null},"timestamp":"2025-01-02T03:04:05.678Z"},
		{"key":null,"value":null,"headers":[{"key":"a","value":"1"},{"key":"a","value":"2"}],"timestamp":1735787045000},
		{"value":"AAEC/w==","encoding":"base64","key":"aw=="},
		{"value":""}
	]}`
	var ar appendResp
	ts.call("POST", "/v1/topics/rt/records", body, http.StatusOK, &ar)
	if len(ar.Records) != 4 || ar.Records[3].Offset != 3 || len(ar.Partitions) != 1 || ar.Partitions[0].Count != 4 {
		t.Fatalf("append answered %+v", ar)
	}
	var rr readResp
	ts.call("GET", "/v1/topics/rt/partitions/0/records", nil, http.StatusOK, &rr)
	if len(rr.Records) != 4 || rr.NextOffset != 4 || rr.HighWatermark != 4 || rr.DurableOffset != 4 {
		t.Fatalf("read %+v", rr)
	}
	r0, r1, r2, r3 := rr.Records[0], rr.Records[1], rr.Records[2], rr.Records[3]
	if str(r0.Key) != "k1" || str(r0.Value) != "plain \"quoted\" é ☺\n" || r0.Timestamp != "2025-01-02T03:04:05.678Z" ||
		r0.TimestampMs != 1735787045678 || len(r0.Headers) != 2 || r0.Headers[0].Key != "h1" || str(r0.Headers[0].Value) != "v1" ||
		r0.Headers[1].Value != nil || r0.Encoding != "" {
		t.Fatalf("record 0: %+v", r0)
	}
	if r1.Key != nil || r1.Value != nil || r1.TimestampMs != 1735787045000 || len(r1.Headers) != 2 || str(r1.Headers[1].Value) != "2" {
		t.Fatalf("record 1: %+v", r1)
	}
	// Not UTF-8: the whole record comes back base64.
	if r2.Encoding != "base64" || str(r2.Value) != "AAEC/w==" || str(r2.Key) != "aw==" {
		t.Fatalf("record 2: %+v", r2)
	}
	if r3.Value == nil || *r3.Value != "" || r3.Key != nil || r3.TimestampMs == 0 {
		t.Fatalf("record 3: %+v", r3)
	}
}

func TestAppendBase64Request(t *testing.T) {
	ts := start(t, nil, nil)
	enc := base64.StdEncoding.EncodeToString
	ts.call("POST", "/v1/topics/b/records", fmt.Sprintf(`{"records":[{"key":%q,"value":%q,"headers":{"h":%q}}],"encoding":"base64"}`,
		enc([]byte("key")), enc([]byte("hello")), enc([]byte("hv"))), http.StatusOK, nil)
	st, _, body := ts.do("POST", "/v1/topics/b/records?encoding=base64", "application/x-ndjson", `{"value":"`+enc([]byte{0xff, 0})+"\"}\n")
	if st != http.StatusOK {
		t.Fatalf("ndjson base64: %d %s", st, body)
	}
	var rr readResp
	ts.call("GET", "/v1/topics/b/partitions/0/records", nil, http.StatusOK, &rr)
	if str(rr.Records[0].Value) != "hello" || str(rr.Records[0].Key) != "key" || str(rr.Records[0].Headers[0].Value) != "hv" {
		t.Fatalf("record 0: %+v", rr.Records[0])
	}
	if rr.Records[1].Encoding != "base64" || str(rr.Records[1].Value) != "/wA=" {
		t.Fatalf("record 1: %+v", rr.Records[1])
	}
	ts.wantError("POST", "/v1/topics/b/records", "application/json", `{"records":[{"value":"!!"}],"encoding":"base64"}`,
		http.StatusBadRequest, "invalid", "record 0: value is not valid base64")
}

func TestNDJSONAppendIsOneBatchPerPartition(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics", `{"name":"n","partitions":4}`, http.StatusCreated, nil)
	// 1,000 keyed records spread over the 4 partitions.
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "{\"key\":\"user-%d\",\"value\":\"v%d\"}\n", i%37, i)
	}
	st, _, data := ts.do("POST", "/v1/topics/n/records", "application/x-ndjson", b.String())
	if st != http.StatusOK {
		t.Fatalf("append: %d %s", st, data)
	}
	var tr topicResp
	ts.call("GET", "/v1/topics/n", nil, http.StatusOK, &tr)
	total := int64(0)
	for _, p := range tr.PartitionInfo {
		total += p.HighWatermark
		if p.HighWatermark > 0 && p.Batches != 1 {
			t.Fatalf("partition %d holds %d batches for one request, want 1", p.Partition, p.Batches)
		}
	}
	if total != 1000 {
		t.Fatalf("%d records stored, want 1000", total)
	}
	// Every key went where Kafka's partitioner sends it, and the answer
	// says so, in request order.
	var ar appendResp
	st, _, data = ts.do("POST", "/v1/topics/n/records", "application/x-ndjson", b.String())
	if err := jsonUnmarshal(data, &ar); err != nil || st != http.StatusOK || len(ar.Records) != 1000 {
		t.Fatalf("append: %d %v %s", st, err, data[:min(len(data), 200)])
	}
	for i, r := range ar.Records {
		if want := partitioner.ForKey([]byte(fmt.Sprintf("user-%d", i%37)), 4); r.Partition != want {
			t.Fatalf("record %d went to partition %d, Kafka's partitioner says %d", i, r.Partition, want)
		}
	}
}

func TestKeylessRecordsStickToOnePartitionPerRequest(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics", `{"name":"s","partitions":3}`, http.StatusCreated, nil)
	seen := map[int32]bool{}
	for range 6 {
		var ar appendResp
		st, _, data := ts.do("POST", "/v1/topics/s/records", "application/x-ndjson", ndjson(10, "x", ""))
		if err := jsonUnmarshal(data, &ar); err != nil || st != http.StatusOK {
			t.Fatalf("append: %d %s", st, data)
		}
		if len(ar.Partitions) != 1 {
			t.Fatalf("keyless records of one request went to %d partitions", len(ar.Partitions))
		}
		seen[ar.Partitions[0].Partition] = true
	}
	if len(seen) != 3 {
		t.Fatalf("6 requests used partitions %v, want all 3 in turn", seen)
	}
	// An explicit partition wins over the key.
	var ar appendResp
	ts.call("POST", "/v1/topics/s/records", `{"records":[{"key":"a","value":"1","partition":2},{"key":"a","value":"2","partition":0}]}`, http.StatusOK, &ar)
	if ar.Records[0].Partition != 2 || ar.Records[1].Partition != 0 {
		t.Fatalf("explicit partitions: %+v", ar)
	}
	ts.wantError("POST", "/v1/topics/s/records", "application/json", `{"records":[{"value":"1","partition":3}]}`,
		http.StatusNotFound, "unknown_partition", "no partition 3")
}

func TestExpectedOffsetsMakeAppendsIdempotent(t *testing.T) {
	ts := start(t, nil, nil)
	ts.call("POST", "/v1/topics/e/records", `{"records":[{"value":"a"},{"value":"b"}],"expected_offsets":{"0":0}}`, http.StatusOK, nil)
	// A retry of the same request does not duplicate it.
	ts.wantError("POST", "/v1/topics/e/records", "application/json", `{"records":[{"value":"a"},{"value":"b"}],"expected_offsets":{"0":0}}`,
		http.StatusConflict, "offset_mismatch", "expected offset 0, next offset is 2")
	st, _, data := ts.do("POST", "/v1/topics/e/records?expected_offsets=0:2", "application/x-ndjson", ndjson(3, "c", ""))
	if st != http.StatusOK {
		t.Fatalf("expected offset 2: %d %s", st, data)
	}
	ts.wantError("POST", "/v1/topics/e/records?expected_offsets=0:2", "application/x-ndjson", ndjson(1, "d", ""),
		http.StatusConflict, "offset_mismatch", "next offset is 5")
	ts.wantError("POST", "/v1/topics/e/records?expected_offsets=zero", "application/x-ndjson", ndjson(1, "d", ""),
		http.StatusBadRequest, "invalid", "PARTITION:OFFSET")
	ts.wantError("POST", "/v1/topics/e/records", "application/json", `{"records":[{"value":"a"}],"expected_offsets":{"1":0}}`,
		http.StatusBadRequest, "invalid", "partition 1")
}

func TestAppendRejectsBadBodiesNamingTheField(t *testing.T) {
	ts := start(t, nil, nil)
	cases := []struct{ ctype, body, mention string }{
		{"application/json", `{"records":[{"vaule":"x"}]}`, `unknown field "vaule"`},
		{"application/json", `{"records":[{"value":1}]}`, `field "value": want a string`},
		{"application/json", `{"records":[{"value":"x","timestamp":"yesterday"}]}`, `"yesterday"`},
		{"application/json", `{"records":[{"value":"x","timestamp":1.5}]}`, "integer"},
		{"application/json", `{"records":[{"value":"x","partition":-1}]}`, "partition"},
		{"application/json", `{"records":[{"value":"x","encoding":"rot13"}]}`, "rot13"},
		{"application/json", `{"records":[{"value":"x","headers":[{"value":"v"}]}]}`, `no "key"`},
		{"application/json", `{"records":[{"value":"x"}],"extra":1}`, `unknown field "extra"`},
		{"application/json", `{"records":[]}`, "no records"},
		{"application/json", `{"recs":[]}`, `"recs"`},
		{"application/json", `{"records":[{"value":"x"}]`, "end of JSON"},
		{"application/json", `{"records":[{"value":"x\u12"}]}`, `\u`},
		{"application/json", `{"records":[{"value":"x"}]} {}`, "after the JSON object"},
		{"application/x-ndjson", "{\"value\":\"a\"}\n{\"value\":\n\"b\"}\n", "line 2"},
		{"application/x-ndjson", "{\"value\":\"a\"} {\"value\":\"b\"}\n", "line 1: data after the record"},
		{"application/x-ndjson", "\n\n", "no records"},
	}
	for _, c := range cases {
		ts.wantError("POST", "/v1/topics/bad/records", c.ctype, c.body, http.StatusBadRequest, "invalid", c.mention)
	}
	ts.wantError("POST", "/v1/topics/bad/records?ack=maybe", "application/json", `{"records":[{"value":"x"}]}`, http.StatusBadRequest, "invalid", "ack")
	ts.wantError("POST", "/v1/topics/bad/records", "text/csv", "a,b", http.StatusUnsupportedMediaType, "unsupported_media_type", "text/csv")
	ts.wantError("POST", "/v1/topics/bad%20name/records", "application/json", `{"records":[{"value":"x"}]}`, http.StatusBadRequest, "invalid", "illegal character")
}

func TestAutoCreateOff(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.AutoCreate = false }, nil)
	ts.wantError("POST", "/v1/topics/ghost/records", "application/json", `{"records":[{"value":"x"}]}`,
		http.StatusNotFound, "unknown_topic", `topic "ghost" not found`)
}
