package httpapi_test

import (
	"net/http"
	"testing"
)

type topicResp struct {
	Name          string         `json:"name"`
	ID            string         `json:"id"`
	Partitions    int32          `json:"partitions"`
	Config        map[string]any `json:"config"`
	PartitionInfo []struct {
		Partition      int32   `json:"partition"`
		LogStartOffset int64   `json:"log_start_offset"`
		HighWatermark  int64   `json:"high_watermark"`
		DurableOffset  int64   `json:"durable_offset"`
		Records        int64   `json:"records"`
		Bytes          int64   `json:"bytes"`
		Segments       int     `json:"segments"`
		Batches        int     `json:"batches"`
		FirstTimestamp *string `json:"first_timestamp"`
		LastTsMs       *int64  `json:"last_timestamp_ms"`
	} `json:"partition_info"`
}

func TestTopicLifecycle(t *testing.T) {
	ts := start(t, nil, nil)
	var tr topicResp
	ts.call("POST", "/v1/topics", map[string]any{"name": "orders", "partitions": 3,
		"config": map[string]any{"retention.ms": 3600000, "retention.bytes": "1048576", "cleanup.policy": "delete"}}, http.StatusCreated, &tr)
	if tr.Name != "orders" || tr.Partitions != 3 || tr.ID == "" || tr.Config["retention.ms"] != 3600000.0 ||
		tr.Config["retention.bytes"] != 1048576.0 || tr.Config["cleanup.policy"] != "delete" {
		t.Fatalf("created %+v", tr)
	}
	ts.wantError("POST", "/v1/topics", "application/json", `{"name":"orders"}`, http.StatusConflict, "topic_exists", "orders")

	var list struct{ Topics []topicResp }
	ts.call("GET", "/v1/topics", nil, http.StatusOK, &list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "orders" {
		t.Fatalf("list %+v", list)
	}

	ts.call("POST", "/v1/topics/orders/records", `{"records":[{"value":"a","partition":1},{"value":"b","partition":1}]}`, http.StatusOK, nil)
	ts.call("GET", "/v1/topics/orders", nil, http.StatusOK, &tr)
	if len(tr.PartitionInfo) != 3 {
		t.Fatalf("describe: %+v", tr)
	}
	p1 := tr.PartitionInfo[1]
	if p1.HighWatermark != 2 || p1.DurableOffset != 2 || p1.Records != 2 || p1.Bytes == 0 || p1.Segments != 1 ||
		p1.Batches != 1 || p1.FirstTimestamp == nil || p1.LastTsMs == nil {
		t.Fatalf("partition 1: %+v", p1)
	}
	if p0 := tr.PartitionInfo[0]; p0.HighWatermark != 0 || p0.FirstTimestamp != nil {
		t.Fatalf("partition 0: %+v", p0)
	}

	// PATCH merges config (null resets to the default) and adds partitions.
	tr = topicResp{}
	ts.call("PATCH", "/v1/topics/orders", map[string]any{"partitions": 5,
		"config": map[string]any{"retention.ms": nil, "max.message.bytes": 2000000, "cleanup.policy": nil}}, http.StatusOK, &tr)
	if tr.Partitions != 5 || tr.Config["retention.ms"] != 604800000.0 || tr.Config["retention.bytes"] != 1048576.0 ||
		tr.Config["max.message.bytes"] != 2000000.0 || tr.Config["cleanup.policy"] != nil {
		t.Fatalf("altered %+v", tr)
	}
	ts.wantError("PATCH", "/v1/topics/orders", "application/json", `{"partitions":2}`, http.StatusBadRequest, "invalid", "fewer")
	ts.wantError("PATCH", "/v1/topics/orders", "application/json", `{}`, http.StatusBadRequest, "invalid", "config")
	ts.wantError("PATCH", "/v1/topics/orders", "application/json", `{"config":{"retention.ms":"soon"}}`, http.StatusBadRequest, "invalid", "retention.ms")
	ts.wantError("PATCH", "/v1/topics/nope", "application/json", `{"partitions":9}`, http.StatusNotFound, "unknown_topic", `"nope"`)

	ts.call("DELETE", "/v1/topics/orders", nil, http.StatusNoContent, nil)
	ts.wantError("GET", "/v1/topics/orders", "", "", http.StatusNotFound, "unknown_topic", `topic "orders" not found`)
	ts.wantError("DELETE", "/v1/topics/orders", "", "", http.StatusNotFound, "unknown_topic", "orders")
}

func TestCreateTopicRejectsBadInput(t *testing.T) {
	ts := start(t, nil, nil)
	cases := []struct{ body, mention string }{
		{`{"name":"bad name"}`, "illegal character"},
		{`{"name":""}`, `"name"`},
		{`{"partitions":3}`, `"name"`},
		{`{"name":"t","partitions":0}`, "partition count 0"},
		{`{"name":"t","partitions":"3"}`, "partitions"},
		{`{"name":"t","colour":"red"}`, "colour"},
		{`{"name":"t","config":{"retention.ms":1.5}}`, "retention.ms"},
		{`{"name":"t","config":{"retention.bytes":-7}}`, "retention bytes -7"},
		{`{"name":"t","config":{"x":{"y":1}}}`, `"x"`},
		{`{"name":`, "not valid JSON"},
		{``, "empty"},
		{`{"name":"t"} {}`, "after the JSON"},
	}
	for _, c := range cases {
		ts.wantError("POST", "/v1/topics", "application/json", c.body, http.StatusBadRequest, "invalid", c.mention)
	}
}

func TestTruncateMovesLogStart(t *testing.T) {
	ts := start(t, nil, nil)
	if st, _, body := ts.do("POST", "/v1/topics/t/records", "application/x-ndjson", ndjson(10, "v", "")); st != http.StatusOK {
		t.Fatalf("append: %d %s", st, body)
	}
	var tr struct {
		LogStartOffset int64 `json:"log_start_offset"`
	}
	ts.call("POST", "/v1/topics/t/partitions/0/truncate", `{"before_offset":4}`, http.StatusOK, &tr)
	if tr.LogStartOffset != 4 {
		t.Fatalf("truncate answered %+v", tr)
	}
	var rr readResp
	ts.call("GET", "/v1/topics/t/partitions/0/records", nil, http.StatusOK, &rr)
	if len(rr.Records) != 6 || rr.Records[0].Offset != 4 || rr.LogStartOffset != 4 {
		t.Fatalf("read after truncate: %+v", rr)
	}
	ts.wantError("GET", "/v1/topics/t/partitions/0/records?offset=2", "", "", http.StatusRequestedRangeNotSatisfiable,
		"offset_out_of_range", "log starts at 4")
	ts.wantError("POST", "/v1/topics/t/partitions/0/truncate", "application/json", `{"before_offset":99}`,
		http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range", "high watermark is 10")
	ts.wantError("POST", "/v1/topics/t/partitions/0/truncate", "application/json", `{}`, http.StatusBadRequest, "invalid", "before_offset")
	ts.wantError("POST", "/v1/topics/t/partitions/7/truncate", "application/json", `{"before_offset":1}`, http.StatusNotFound, "unknown_partition", "7")
	ts.wantError("POST", "/v1/topics/t/partitions/x/truncate", "application/json", `{"before_offset":1}`, http.StatusBadRequest, "invalid", `"x"`)
}
