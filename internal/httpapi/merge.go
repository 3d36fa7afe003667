package httpapi

import (
	"container/heap"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/millrace/millrace/internal/batch"
)

// mergeRec is a record copied out of its batch, located in its cursor's
// arena.
type mergeRec struct {
	offset, ts int64
	key, value span
	hdr0, hdr1 int
}

type mergeHdr struct {
	key   string
	value span
}

// cursor walks one partition's span for a merged read, a chunk of copied
// records at a time.
type cursor struct {
	s         scanReq
	sc        scanner // only its arena and bytes() are used
	recs      []mergeRec
	hdrs      []mergeHdr
	i         int
	exhausted bool
	next      int64 // offset after the last record handed out
}

// fill reads the next chunk; it leaves recs empty only when the partition's
// span is exhausted.
func (c *cursor) fill(a *API, limit int) error {
	c.recs, c.hdrs, c.sc.arena, c.i = c.recs[:0], c.hdrs[:0], c.sc.arena[:0], 0
	keep := func(b []byte) span {
		if b == nil {
			return span{}
		}
		off := len(c.sc.arena)
		c.sc.arena = append(c.sc.arena, b...)
		return span{off: off, n: len(b), src: spanArena}
	}
	for len(c.recs) == 0 && !c.exhausted {
		c.s.limit = limit
		res, err := a.scan(c.s, func(r *batch.Record) {
			m := mergeRec{offset: r.Offset, ts: r.Timestamp, key: keep(r.Key), value: keep(r.Value), hdr0: len(c.hdrs)}
			for _, h := range r.Headers {
				c.hdrs = append(c.hdrs, mergeHdr{key: h.Key, value: keep(h.Value)})
			}
			m.hdr1 = len(c.hdrs)
			c.recs = append(c.recs, m)
		})
		if err != nil {
			return err
		}
		c.s.next = res.next
		c.exhausted = res.done || res.caughtUp
	}
	return nil
}

// record resolves the current record for encoding.
func (c *cursor) record(hdrs *[]batch.RecordHeader) batch.Record {
	m := c.recs[c.i]
	*hdrs = (*hdrs)[:0]
	for _, h := range c.hdrs[m.hdr0:m.hdr1] {
		*hdrs = append(*hdrs, batch.RecordHeader{Key: h.key, Value: c.sc.bytes(h.value)})
	}
	return batch.Record{Offset: m.offset, Timestamp: m.ts, Key: c.sc.bytes(m.key), Value: c.sc.bytes(m.value), Headers: *hdrs}
}

// cursorHeap orders cursors by their current record's (timestamp,
// partition, offset).
type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	a, b := h[i].recs[h[i].i], h[j].recs[h[j].i]
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	if h[i].s.part != h[j].s.part {
		return h[i].s.part < h[j].s.part
	}
	return a.offset < b.offset
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// mergeCursors sets up one cursor per partition of the read.
func (a *API) mergeCursors(topic string, p *readParams, starts map[int32]int64) ([]*cursor, error) {
	n, err := a.log.Partitions(topic)
	if err != nil {
		return nil, err
	}
	parts := p.partitions
	if parts == nil {
		for i := range n {
			parts = append(parts, i)
		}
	}
	var cs []*cursor
	for _, part := range parts {
		if part >= n {
			return nil, errorf(http.StatusNotFound, "unknown_partition", "topic %q has %d partitions, no partition %d", topic, n, part)
		}
		start, end, err := a.partitionStart(topic, part, p, "")
		if err != nil {
			return nil, err
		}
		if off, ok := starts[part]; ok {
			start = off
		}
		cs = append(cs, &cursor{s: scanReq{topic: topic, part: part, next: start, end: end, untilMs: math.MaxInt64,
			maxBytes: 1 << 20, durable: p.durable}, next: start})
	}
	return cs, nil
}

// readMerged is GET /v1/topics/{topic}/records: the records of every
// partition (or those listed) in a since/until span, merged by timestamp.
func (a *API) readMerged(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	what := fmt.Sprintf("read topic %q", topic)
	q := r.URL.Query()
	p, err := parseReadParams(q, "since", "until", "limit", "isolation", "partitions", "offsets")
	if err != nil {
		a.fail(w, err, what)
		return
	}
	starts := map[int32]int64{}
	if s := q.Get("offsets"); s != "" {
		for _, item := range strings.Split(s, ",") {
			ps, os, ok := strings.Cut(strings.TrimSpace(item), ":")
			part, err1 := strconv.ParseInt(ps, 10, 32)
			off, err2 := strconv.ParseInt(os, 10, 64)
			if !ok || err1 != nil || err2 != nil || part < 0 || off < 0 {
				a.fail(w, badRequest("offsets %q: want PARTITION:OFFSET pairs separated by commas, e.g. 0:42,1:17", s), what)
				return
			}
			starts[int32(part)] = off
		}
	}
	cs, err := a.mergeCursors(topic, &p, starts)
	if err != nil {
		a.failTopic(w, err, topic, "read topic")
		return
	}
	h := make(cursorHeap, 0, len(cs))
	for _, c := range cs {
		if err := c.fill(a, p.limit); err != nil {
			a.failTopic(w, err, topic, "read topic")
			return
		}
		if len(c.recs) > 0 {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	out := getBuf()
	defer putBuf(out)
	b := append((*out)[:0], `{"topic":`...)
	b = appendJSONString(b, topic)
	b = append(b, `,"records":[`...)
	var hdrs []batch.RecordHeader
	n, bytes := 0, 0
	for n < p.limit && len(h) > 0 {
		c := h[0]
		rec := c.record(&hdrs)
		if n > 0 {
			b = append(b, ',')
		}
		b = appendRecordJSON(b, c.s.part, &rec)
		n++
		bytes += recordBytes(&rec)
		c.next = rec.Offset + 1
		c.i++
		if c.i == len(c.recs) {
			if err := c.fill(a, p.limit-n); err != nil {
				a.failTopic(w, err, topic, "read topic")
				return
			}
			if len(c.recs) == 0 {
				heap.Pop(&h)
				continue
			}
		}
		heap.Fix(&h, 0)
	}
	a.met.Read(topic, n, bytes)
	b = append(b, `],"next_offsets":{`...)
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(c.s.part), 10)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, c.next, 10)
	}
	b = append(b, "}}\n"...)
	*out = b
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// count is GET /v1/topics/{topic}/count: the exact number of records in a
// since/until span, from the offsets the time index gives for its ends
// (offsets are dense, so no record is read).
func (a *API) count(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	p, err := parseReadParams(r.URL.Query(), "since", "until", "isolation", "partitions")
	if err != nil {
		a.fail(w, err, fmt.Sprintf("count topic %q", topic))
		return
	}
	n, err := a.log.Partitions(topic)
	if err != nil {
		a.failTopic(w, err, topic, "count topic")
		return
	}
	parts := p.partitions
	if parts == nil {
		for i := range n {
			parts = append(parts, i)
		}
	}
	type partCount struct {
		Partition   int32 `json:"partition"`
		StartOffset int64 `json:"start_offset"`
		EndOffset   int64 `json:"end_offset"`
		Count       int64 `json:"count"`
	}
	var total int64
	counts := make([]partCount, 0, len(parts))
	for _, part := range parts {
		if part >= n {
			writeError(w, errorf(http.StatusNotFound, "unknown_partition", "topic %q has %d partitions, no partition %d", topic, n, part))
			return
		}
		logStart, high, durable, err := a.log.Watermarks(topic, part)
		if err == nil && p.durable {
			high = durable
		}
		start, end := logStart, high
		if err == nil && p.hasSince {
			var o int64
			o, err = a.log.OffsetForTime(topic, part, msTime(p.since))
			start = max(start, o)
		}
		if err == nil && p.hasUntil {
			var o int64
			o, err = a.log.OffsetForTime(topic, part, msTime(p.until))
			end = min(end, o)
		}
		if err != nil {
			a.failTopic(w, err, topic, fmt.Sprintf("count partition %d of topic", part))
			return
		}
		c := max(0, end-start)
		total += c
		counts = append(counts, partCount{Partition: part, StartOffset: start, EndOffset: max(start, end), Count: c})
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "count": total, "partitions": counts})
}
