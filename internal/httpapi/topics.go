package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/millrace/millrace"
)

// TopicJSON is a topic as the API shows it (GET /v1/topics/{topic}, and
// each element of GET /v1/topics). The command line decodes it too.
type TopicJSON struct {
	Name          string          `json:"name"`
	ID            string          `json:"id"`
	Partitions    int32           `json:"partitions"`
	Config        map[string]any  `json:"config"`
	PartitionInfo []PartitionJSON `json:"partition_info,omitempty"`
}

// PartitionJSON is a partition's state, in TopicJSON.PartitionInfo.
type PartitionJSON struct {
	Partition      int32   `json:"partition"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
	DurableOffset  int64   `json:"durable_offset"`
	Records        int64   `json:"records"`
	Bytes          int64   `json:"bytes"`
	Segments       int     `json:"segments"`
	Batches        int     `json:"batches"`
	FirstTimestamp *string `json:"first_timestamp"`
	LastTimestamp  *string `json:"last_timestamp"`
	FirstTsMs      *int64  `json:"first_timestamp_ms"`
	LastTsMs       *int64  `json:"last_timestamp_ms"`
}

func toTopicJSON(ti millrace.TopicInfo) TopicJSON {
	return TopicJSON{Name: ti.Name, ID: base64.RawURLEncoding.EncodeToString(ti.ID[:]), Partitions: ti.Partitions, Config: configJSON(ti.Config)}
}

func configJSON(c millrace.TopicConfig) map[string]any {
	out := map[string]any{
		"retention.ms": c.RetentionMs, "retention.bytes": c.RetentionBytes,
		"segment.bytes": c.SegmentBytes, "max.message.bytes": c.MaxMessageBytes,
	}
	for k, v := range c.Extra {
		out[k] = v
	}
	return out
}

func tsJSON(ms int64) (*string, *int64) {
	if ms < 0 {
		return nil, nil
	}
	s := time.UnixMilli(ms).UTC().Format(tsLayout)
	return &s, &ms
}

// applyConfig sets the keys of in on c. Typed keys take an integer (a JSON
// number or a string of digits); other keys are kept verbatim as strings.
// A null value resets a typed key to def's value and removes another key.
func applyConfig(c *millrace.TopicConfig, def millrace.TopicConfig, in map[string]json.RawMessage) error {
	typed := map[string]struct{ dst, def *int64 }{
		"retention.ms":      {&c.RetentionMs, &def.RetentionMs},
		"retention.bytes":   {&c.RetentionBytes, &def.RetentionBytes},
		"segment.bytes":     {&c.SegmentBytes, &def.SegmentBytes},
		"max.message.bytes": {&c.MaxMessageBytes, &def.MaxMessageBytes},
	}
	c.Extra = maps.Clone(c.Extra)
	for k, raw := range in {
		isNull := string(raw) == "null"
		if f, ok := typed[k]; ok {
			if isNull {
				*f.dst = *f.def
				continue
			}
			var n json.Number
			var s string
			if err := json.Unmarshal(raw, &n); err != nil {
				if err := json.Unmarshal(raw, &s); err != nil {
					return badRequest("config %q: want an integer, got %s", k, raw)
				}
				n = json.Number(s)
			}
			v, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				return badRequest("config %q: want an integer, got %s", k, raw)
			}
			*f.dst = v
			continue
		}
		if k == "" {
			return badRequest("config has an empty key")
		}
		if isNull {
			delete(c.Extra, k)
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var v any
			if json.Unmarshal(raw, &v) != nil {
				return badRequest("config %q: bad value %s", k, raw)
			}
			switch v.(type) {
			case map[string]any, []any:
				return badRequest("config %q: want a string, number or boolean, got %s", k, raw)
			}
			s = string(raw)
		}
		if c.Extra == nil {
			c.Extra = map[string]string{}
		}
		c.Extra[k] = s
	}
	return nil
}

type createTopicRequest struct {
	Name       string                     `json:"name"`
	Partitions *int32                     `json:"partitions"`
	Config     map[string]json.RawMessage `json:"config"`
}

func (a *API) createTopic(w http.ResponseWriter, r *http.Request) {
	if a.readOnly.Load() {
		a.fail(w, errReadOnly(), "create topic")
		return
	}
	var req createTopicRequest
	if err := decodeJSONBody(w, r, a.opts.MaxRequestBytes, &req); err != nil {
		a.fail(w, err, "create topic")
		return
	}
	if req.Name == "" {
		writeError(w, badRequest("create topic: field \"name\" is missing or empty"))
		return
	}
	parts := a.opts.DefaultPartitions
	if req.Partitions != nil {
		parts = *req.Partitions
	}
	var cfg *millrace.TopicConfig
	if req.Config != nil {
		def := a.defaultConfig()
		c := def
		if err := applyConfig(&c, def, req.Config); err != nil {
			a.fail(w, err, "create topic")
			return
		}
		cfg = &c
	}
	ti, err := a.log.CreateTopic(req.Name, parts, cfg)
	if err != nil {
		a.fail(w, err, fmt.Sprintf("create topic %q with %d partitions", req.Name, parts))
		return
	}
	writeJSON(w, http.StatusCreated, toTopicJSON(ti))
}

// defaultConfig is the configuration topics get when created without one.
func (a *API) defaultConfig() millrace.TopicConfig {
	if a.opts.DefaultConfig != nil {
		return *a.opts.DefaultConfig
	}
	return millrace.DefaultTopicConfig()
}

func (a *API) listTopics(w http.ResponseWriter, r *http.Request) {
	topics := a.log.Topics()
	out := make([]TopicJSON, len(topics))
	for i, t := range topics {
		out[i] = toTopicJSON(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": out})
}

func (a *API) describeTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	ti, parts, err := a.log.DescribeTopic(name)
	if err != nil {
		a.failTopic(w, err, name, "describe topic")
		return
	}
	tj := toTopicJSON(ti)
	tj.PartitionInfo = make([]PartitionJSON, len(parts))
	for i, p := range parts {
		pj := PartitionJSON{Partition: p.Partition, LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark,
			DurableOffset: p.DurableOffset, Records: p.HighWatermark - p.LogStartOffset, Bytes: p.Bytes,
			Segments: p.Segments, Batches: p.Batches}
		pj.FirstTimestamp, pj.FirstTsMs = tsJSON(p.FirstTimestamp)
		pj.LastTimestamp, pj.LastTsMs = tsJSON(p.LastTimestamp)
		tj.PartitionInfo[i] = pj
	}
	writeJSON(w, http.StatusOK, tj)
}

// failTopic answers an error about a named topic, phrasing "not found".
func (a *API) failTopic(w http.ResponseWriter, err error, name, what string) {
	if errors.Is(err, millrace.ErrUnknownTopic) {
		writeError(w, unknownTopic(name))
		return
	}
	a.fail(w, err, fmt.Sprintf("%s %q", what, name))
}

type alterTopicRequest struct {
	Partitions *int32                     `json:"partitions"`
	Config     map[string]json.RawMessage `json:"config"`
}

func (a *API) alterTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if a.readOnly.Load() {
		a.fail(w, errReadOnly(), "alter topic")
		return
	}
	var req alterTopicRequest
	if err := decodeJSONBody(w, r, a.opts.MaxRequestBytes, &req); err != nil {
		a.fail(w, err, fmt.Sprintf("alter topic %q", name))
		return
	}
	if req.Partitions == nil && req.Config == nil {
		writeError(w, badRequest("alter topic %q: give \"config\" or \"partitions\" (or both)", name))
		return
	}
	ti, _, err := a.log.DescribeTopic(name)
	if err != nil {
		a.failTopic(w, err, name, "alter topic")
		return
	}
	if req.Partitions != nil && *req.Partitions < ti.Partitions {
		writeError(w, badRequest("alter topic %q: partitions %d is fewer than the %d it has; partitions can only be added",
			name, *req.Partitions, ti.Partitions))
		return
	}
	if req.Config != nil {
		c := ti.Config
		if err := applyConfig(&c, a.defaultConfig(), req.Config); err != nil {
			a.fail(w, err, fmt.Sprintf("alter topic %q", name))
			return
		}
		if ti, err = a.log.AlterTopicConfig(name, c); err != nil {
			a.failTopic(w, err, name, "alter config of topic")
			return
		}
	}
	if req.Partitions != nil && *req.Partitions > ti.Partitions {
		if ti, err = a.log.AddPartitions(name, *req.Partitions); err != nil {
			a.failTopic(w, err, name, fmt.Sprintf("raise partitions to %d of topic", *req.Partitions))
			return
		}
	}
	writeJSON(w, http.StatusOK, toTopicJSON(ti))
}

func (a *API) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := a.log.DeleteTopic(name); err != nil {
		a.failTopic(w, err, name, "delete topic")
		return
	}
	a.met.ForgetTopic(name)
	w.WriteHeader(http.StatusNoContent)
}

type truncateRequest struct {
	BeforeOffset *int64 `json:"before_offset"`
}

func (a *API) truncate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	part, err := pathPartition(r)
	if err != nil {
		a.fail(w, err, "truncate")
		return
	}
	var req truncateRequest
	if err := decodeJSONBody(w, r, a.opts.MaxRequestBytes, &req); err != nil {
		a.fail(w, err, fmt.Sprintf("truncate %s/%d", name, part))
		return
	}
	if req.BeforeOffset == nil {
		writeError(w, badRequest("truncate %s/%d: field \"before_offset\" is missing", name, part))
		return
	}
	start, err := a.log.Truncate(name, part, *req.BeforeOffset)
	if err != nil {
		a.failTopic(w, err, name, fmt.Sprintf("truncate partition %d before offset %d of topic", part, *req.BeforeOffset))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": name, "partition": part, "log_start_offset": start})
}

// pathPartition reads the {partition} path value.
func pathPartition(r *http.Request) (int32, error) {
	s := r.PathValue("partition")
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil || p < 0 {
		return 0, badRequest("partition %q in the path is not a partition number (0 or more)", s)
	}
	return int32(p), nil
}
