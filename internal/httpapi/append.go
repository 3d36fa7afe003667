package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/partitioner"
)

// appendRecords is POST /v1/topics/{topic}/records.
func (a *API) appendRecords(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	what := fmt.Sprintf("append to topic %q", topic)
	if a.readOnly.Load() {
		a.fail(w, errReadOnly(), what)
		return
	}
	st := getAppendState()
	defer putAppendState(st)
	opts, ndjson, err := st.parseQuery(r)
	if err != nil {
		a.fail(w, err, what)
		return
	}
	if err := st.readBody(http.MaxBytesReader(w, r.Body, a.opts.MaxRequestBytes), r.ContentLength); err != nil {
		a.fail(w, err, what)
		return
	}
	if ndjson {
		err = st.parseNDJSON()
	} else {
		err = st.parseJSON()
	}
	if err == nil && len(st.recs) == 0 {
		err = badRequest("no records in the request body")
	}
	if err == nil {
		err = st.decodeBase64()
	}
	if err != nil {
		a.fail(w, err, what)
		return
	}
	n, err := a.partitionsOf(topic)
	if err != nil {
		a.failTopic(w, err, topic, "append to topic")
		return
	}
	if err := st.group(topic, n, &a.spread); err != nil {
		a.fail(w, err, what)
		return
	}
	bytes := st.build()
	st.run(a.log, r, topic, opts)
	status, failed := http.StatusOK, (*apiError)(nil)
	records := 0
	for i := range st.groups {
		g := &st.groups[i]
		if g.err != nil {
			if failed == nil {
				failed = toAPIError(g.err, fmt.Sprintf("append to partition %d of topic %q", g.part, topic))
				status = failed.status
				switch failed.code {
				case "overloaded", "read_only":
					a.met.Shed(failed.code)
				}
			}
			continue
		}
		records += g.end - g.start
	}
	if records > 0 {
		a.met.Appended(topic, records, bytes)
	}
	if failed != nil && failed.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(failed.retryAfter)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(st.response(failed))
}

// parseQuery reads ack, encoding and expected_offsets, and the body type.
func (st *appendState) parseQuery(r *http.Request) (opts millrace.AppendOptions, ndjson bool, err error) {
	q := r.URL.Query()
	switch ack := q.Get("ack"); ack {
	case "", "durable":
	case "memory":
		opts.Ack = millrace.AckMemory
	default:
		return opts, false, badRequest("ack %q: want durable or memory", ack)
	}
	if v := q.Get("encoding"); v != "" {
		enc, ok := parseEncoding(v)
		if !ok {
			return opts, false, badRequest("encoding %q: want utf8 or base64", v)
		}
		st.enc = enc
	}
	if v := q.Get("expected_offsets"); v != "" {
		if err := st.parseExpectedOffsets(v); err != nil {
			return opts, false, err
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return opts, false, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return opts, false, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: %v", ct, err)
	}
	switch mt {
	case "application/json", "application/x-www-form-urlencoded": // the latter is curl -d's default
		return opts, false, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return opts, true, nil
	}
	return opts, false, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"Content-Type %q: want application/json or application/x-ndjson", ct)
}

// partitionsOf returns the topic's partition count, creating the topic if
// auto-create is on.
func (a *API) partitionsOf(topic string) (int32, error) {
	n, err := a.log.Partitions(topic)
	if err == nil || !errors.Is(err, millrace.ErrUnknownTopic) || !a.opts.AutoCreate {
		return n, err
	}
	if _, err := a.log.CreateTopic(topic, a.opts.DefaultPartitions, nil); err != nil && !errors.Is(err, millrace.ErrTopicExists) {
		return 0, err
	}
	return a.log.Partitions(topic)
}

// group assigns each record its partition (explicit, else by key with
// Kafka's partitioner, else the request's sticky partition, chosen round
// robin) and lays the partitions' batches out in order.
func (st *appendState) group(topic string, n int32, spread interface{ Add(uint32) uint32 }) error {
	sticky := int32(-1)
	for i := range st.recs {
		rec := &st.recs[i]
		switch {
		case rec.part >= 0:
			if rec.part >= n {
				return errorf(http.StatusNotFound, "unknown_partition", "record %d: topic %q has %d partitions, no partition %d", i, topic, n, rec.part)
			}
			rec.assigned = rec.part
		case rec.key.src != spanNull:
			rec.assigned = partitioner.ForKey(st.sc.bytes(rec.key), n)
		default:
			if sticky < 0 {
				sticky = int32(spread.Add(1) % uint32(n))
			}
			rec.assigned = sticky
		}
		// Find the record's group; requests rarely span many partitions,
		// and records of one partition tend to come together.
		g := len(st.groups) - 1
		if g < 0 || st.groups[g].part != rec.assigned {
			g = -1
			for j := range st.groups {
				if st.groups[j].part == rec.assigned {
					g = j
					break
				}
			}
			if g < 0 {
				st.groups = append(st.groups, group{part: rec.assigned})
				g = len(st.groups) - 1
			}
		}
		rec.group, rec.pos = g, st.groups[g].end
		st.groups[g].end++ // a count until build
	}
	for _, e := range st.expected {
		found := false
		for _, g := range st.groups {
			found = found || g.part == e.part
		}
		if !found {
			return badRequest("expected_offsets names partition %d, but no record of the request goes to it", e.part)
		}
	}
	return nil
}

// build fills st.out with the records in partition order and returns the
// bytes of their keys, values and headers.
func (st *appendState) build() int {
	start := 0
	for i := range st.groups {
		g := &st.groups[i]
		g.start, g.end = start, start+g.end
		start = g.end
	}
	if cap(st.out) < len(st.recs) {
		st.out = make([]millrace.Record, len(st.recs))
	}
	st.out = st.out[:len(st.recs)]
	if cap(st.outHdrs) < len(st.hdrs) {
		st.outHdrs = make([]millrace.Header, len(st.hdrs))
	}
	st.outHdrs = st.outHdrs[:len(st.hdrs)]
	total := 0
	for i := range st.recs {
		rec := &st.recs[i]
		out := &st.out[st.groups[rec.group].start+rec.pos]
		*out = millrace.Record{Key: st.sc.bytes(rec.key), Value: st.sc.bytes(rec.value)}
		if rec.hasTs {
			out.Timestamp = time.UnixMilli(rec.ts)
		}
		total += len(out.Key) + len(out.Value)
		if rec.hdr1 > rec.hdr0 {
			for j := rec.hdr0; j < rec.hdr1; j++ {
				h := st.hdrs[j]
				st.outHdrs[j] = millrace.Header{Key: h.key, Value: st.sc.bytes(h.value)}
				total += len(h.key) + int(h.value.n)
			}
			out.Headers = st.outHdrs[rec.hdr0:rec.hdr1]
		}
	}
	return total
}

// run appends each group as one batch; several groups are appended
// concurrently so that one group commit can cover them all.
func (st *appendState) run(l *millrace.Log, r *http.Request, topic string, opts millrace.AppendOptions) {
	opts.NoAutoCreate = true
	appendGroup := func(g *group) {
		o := opts
		for _, e := range st.expected {
			if e.part == g.part {
				off := e.offset
				o.ExpectedOffset = &off
			}
		}
		g.res, g.err = l.Append(r.Context(), topic, g.part, st.out[g.start:g.end], o)
	}
	if len(st.groups) == 1 {
		appendGroup(&st.groups[0])
		return
	}
	var wg sync.WaitGroup
	for i := range st.groups {
		wg.Add(1)
		go func(g *group) {
			defer wg.Done()
			appendGroup(g)
		}(&st.groups[i])
	}
	wg.Wait()
}

// response writes the answer: every record's partition and offset, in
// request order, and a summary per partition; on failure, the error and
// the partitions that failed.
func (st *appendState) response(failed *apiError) []byte {
	b := st.resp[:0]
	if failed != nil {
		b = append(b, `{"error":`...)
		b = appendJSONString(b, failed.msg)
		b = append(b, `,"code":`...)
		b = appendJSONString(b, failed.code)
		b = append(b, ',')
	} else {
		b = append(b, '{')
		b = append(b, `"records":[`...)
		for i := range st.recs {
			rec := &st.recs[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"partition":`...)
			b = strconv.AppendInt(b, int64(rec.assigned), 10)
			b = append(b, `,"offset":`...)
			b = strconv.AppendInt(b, st.groups[rec.group].res.BaseOffset+int64(rec.pos), 10)
			b = append(b, '}')
		}
		b = append(b, `],`...)
	}
	b = append(b, `"partitions":[`...)
	for i, g := range st.groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"partition":`...)
		b = strconv.AppendInt(b, int64(g.part), 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(g.end-g.start), 10)
		if g.err != nil {
			ae := toAPIError(g.err, "append")
			b = append(b, `,"error":`...)
			b = appendJSONString(b, ae.msg)
			b = append(b, `,"code":`...)
			b = appendJSONString(b, ae.code)
		} else {
			b = append(b, `,"base_offset":`...)
			b = strconv.AppendInt(b, g.res.BaseOffset, 10)
			b = append(b, `,"last_offset":`...)
			b = strconv.AppendInt(b, g.res.LastOffset, 10)
		}
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	st.resp = b
	return b
}
