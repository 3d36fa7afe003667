package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

// scanReq says what to scan of one partition.
type scanReq struct {
	topic    string
	part     int32
	next     int64 // first offset wanted
	end      int64 // stop before this offset; -1: no end
	untilMs  int64 // stop at the first record this recent (follow with until)
	limit    int   // stop after this many records emitted
	maxBytes int   // stop after reading this many bytes of batches
	key      []byte
	hasKey   bool
	durable  bool
}

// scanRes is what a scan did.
type scanRes struct {
	next     int64 // where to continue
	n        int   // records emitted
	bytes    int   // their key, value and header bytes
	done     bool  // the span's end (end offset or until) was reached
	caughtUp bool  // nothing more is readable now
}

var errStop = errors.New("stop")

// bufPool holds read buffers (stored batches, response bodies).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 8<<20 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// scan reads a partition's records from s.next on, calling emit for each
// that passes the key filter, until s.limit records were emitted, s.maxBytes
// of stored batches were read, the span's end was reached, or nothing more
// is readable. emit gets records decoded in place: valid during the call.
// Control batches (transaction markers) are skipped.
func (a *API) scan(s scanReq, emit func(*batch.Record)) (scanRes, error) {
	res := scanRes{next: s.next}
	bp := getBuf()
	defer putBuf(bp)
	scanned := 0
	for first := true; ; first = false {
		if s.end >= 0 && res.next >= s.end {
			res.done = true
			return res, nil
		}
		if (s.limit > 0 && res.n >= s.limit) || scanned >= s.maxBytes {
			return res, nil
		}
		data, rr, err := a.log.ReadBatches(s.topic, s.part, res.next, min(s.maxBytes-scanned, 1<<20), s.durable, (*bp)[:0])
		if err != nil {
			if first {
				return res, err
			}
			return res, nil // served what was read; the next read reports it
		}
		*bp = data
		if len(data) == 0 {
			res.caughtUp = true
			return res, nil
		}
		scanned += len(data)
		for len(data) > 0 {
			b, rest, err := batch.Next(data)
			if err != nil {
				return res, fmt.Errorf("read %s/%d at offset %d: %w", s.topic, s.part, res.next, err)
			}
			data = rest
			h, err := batch.ReadHeader(b)
			if err != nil {
				return res, fmt.Errorf("read %s/%d at offset %d: %w", s.topic, s.part, res.next, err)
			}
			if h.Control() {
				res.next = max(res.next, h.LastOffset()+1)
				continue
			}
			stopped := false
			err = batch.Records(b, func(r *batch.Record) error {
				if r.Offset < res.next {
					return nil
				}
				if (s.end >= 0 && r.Offset >= s.end) || r.Timestamp >= s.untilMs {
					res.done, stopped = true, true
					return errStop
				}
				res.next = r.Offset + 1
				if s.hasKey && (r.Key == nil || !bytes.Equal(r.Key, s.key)) {
					return nil
				}
				emit(r)
				res.n++
				res.bytes += recordBytes(r)
				if s.limit > 0 && res.n >= s.limit {
					stopped = true
					return errStop
				}
				return nil
			})
			if err != nil && err != errStop {
				return res, fmt.Errorf("read %s/%d at offset %d: %w", s.topic, s.part, res.next, err)
			}
			if stopped {
				return res, nil
			}
			res.next = max(res.next, h.LastOffset()+1)
		}
		if rr.NextOffset >= readableEnd(rr, s.durable) {
			res.caughtUp = true
			return res, nil
		}
	}
}

func readableEnd(rr millrace.ReadResult, durable bool) int64 {
	if durable {
		return rr.DurableOffset
	}
	return rr.HighWatermark
}

// partitionStart resolves where a read of one partition starts, and where
// a since/until span ends (-1 when open).
func (a *API) partitionStart(topic string, part int32, p *readParams, lastEventID string) (start, end int64, err error) {
	logStart, high, durable, err := a.log.Watermarks(topic, part)
	if err != nil {
		return 0, 0, err
	}
	end = -1
	switch {
	case p.startKind == startOffset:
		start = p.offset
	case p.hasSince:
		if start, err = a.log.OffsetForTime(topic, part, msTime(p.since)); err != nil {
			return 0, 0, err
		}
	case p.startKind == startLatest || (p.startKind == startDefault && p.follow):
		start = high
		if p.durable {
			start = durable
		}
	default:
		start = logStart
	}
	if id, err := strconv.ParseInt(lastEventID, 10, 64); err == nil && id >= 0 && p.startKind == startDefault && !p.hasSince {
		start = id + 1 // an EventSource reconnecting
	}
	if p.hasUntil && !p.follow {
		if end, err = a.log.OffsetForTime(topic, part, msTime(p.until)); err != nil {
			return 0, 0, err
		}
	}
	return start, end, nil
}

// readPartition is GET /v1/topics/{topic}/partitions/{partition}/records.
func (a *API) readPartition(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	part, err := pathPartition(r)
	if err != nil {
		a.fail(w, err, "read")
		return
	}
	what := fmt.Sprintf("read partition %d of topic %q", part, topic)
	p, err := parseReadParams(r.URL.Query(), "offset", "limit", "max_bytes", "since", "until", "key", "isolation", "wait_ms", "follow")
	if err != nil {
		a.fail(w, err, what)
		return
	}
	start, end, err := a.partitionStart(topic, part, &p, r.Header.Get("Last-Event-ID"))
	if err != nil {
		a.failTopic(w, err, topic, fmt.Sprintf("read partition %d of topic", part))
		return
	}
	s := scanReq{topic: topic, part: part, next: start, end: end, untilMs: math.MaxInt64, limit: p.limit,
		maxBytes: p.maxBytes, key: p.key, hasKey: p.hasKey, durable: p.durable}
	if p.follow {
		if p.hasUntil {
			s.untilMs = p.until
		}
		a.follow(w, r, s)
		return
	}
	out := getBuf()
	defer putBuf(out)
	b := append((*out)[:0], `{"topic":`...)
	b = appendJSONString(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(part), 10)
	b = append(b, `,"records":[`...)
	emit := func(rec *batch.Record) {
		if b[len(b)-1] != '[' {
			b = append(b, ',')
		}
		b = appendRecordJSON(b, part, rec)
	}
	res, err := a.scan(s, emit)
	if err == nil && res.n == 0 && !res.done && p.wait > 0 {
		res, err = a.longPoll(r, s, res, p.wait, emit)
	}
	if err != nil {
		a.failTopic(w, err, topic, fmt.Sprintf("read partition %d of topic", part))
		return
	}
	a.met.Read(topic, res.n, res.bytes)
	logStart, high, durable, err := a.log.Watermarks(topic, part)
	if err != nil {
		a.failTopic(w, err, topic, fmt.Sprintf("read partition %d of topic", part))
		return
	}
	b = append(b, `],"next_offset":`...)
	b = strconv.AppendInt(b, res.next, 10)
	b = append(b, `,"high_watermark":`...)
	b = strconv.AppendInt(b, high, 10)
	b = append(b, `,"durable_offset":`...)
	b = strconv.AppendInt(b, durable, 10)
	b = append(b, `,"log_start_offset":`...)
	b = strconv.AppendInt(b, logStart, 10)
	b = append(b, "}\n"...)
	*out = b
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// longPoll waits, up to wait, for a record past res.next and scans again;
// it answers as soon as a scan emits something.
func (a *API) longPoll(r *http.Request, s scanReq, res scanRes, wait time.Duration, emit func(*batch.Record)) (scanRes, error) {
	ctx, cancel := a.streamCtx(r)
	defer cancel()
	ctx, cancelWait := context.WithTimeout(ctx, wait)
	defer cancelWait()
	for res.n == 0 && !res.done && ctx.Err() == nil {
		if res.caughtUp {
			if err := a.log.Wait(ctx, s.topic, s.part, res.next, s.durable); err != nil {
				if ctx.Err() != nil || errors.Is(err, millrace.ErrClosed) {
					return res, nil // the deadline: answer empty
				}
				return res, err
			}
		}
		s.next = res.next
		var err error
		if res, err = a.scan(s, emit); err != nil {
			return res, err
		}
	}
	return res, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }
