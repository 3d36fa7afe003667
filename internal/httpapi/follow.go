package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/millrace/millrace/internal/batch"
)

// follow streams a partition from s.next until the client goes away, the
// API drains, s.limit records were sent, or the until time is passed. The
// stream is Server-Sent Events when the client accepts text/event-stream
// (one event per record, its id the offset, so that an EventSource resumes
// where it left off), else NDJSON, one record per line. Each batch of
// records is flushed as soon as it is read; an idle SSE stream gets a
// comment every Heartbeat. An error after the stream started is sent in
// the stream (an "error" event, or an {"error","code"} line), then the
// stream ends.
func (a *API) follow(w http.ResponseWriter, r *http.Request, s scanReq) {
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	// Check the start now, so that a bad offset gets a plain error status
	// rather than an in-stream error.
	logStart, high, _, err := a.log.Watermarks(s.topic, s.part)
	if err != nil {
		a.failTopic(w, err, s.topic, "follow partition "+strconv.Itoa(int(s.part))+" of topic")
		return
	}
	if s.next < logStart || s.next > high {
		writeError(w, errorf(http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range",
			"follow %s/%d from offset %d: log starts at %d, high watermark %d", s.topic, s.part, s.next, logStart, high))
		return
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	ctx, cancel := a.streamCtx(r)
	defer cancel()
	out := getBuf()
	defer putBuf(out)
	b := (*out)[:0]
	emit := func(rec *batch.Record) {
		if sse {
			b = append(b, "id: "...)
			b = strconv.AppendInt(b, rec.Offset, 10)
			b = append(b, "\ndata: "...)
			b = appendRecordJSON(b, s.part, rec)
			b = append(b, "\n\n"...)
		} else {
			b = appendRecordJSON(b, s.part, rec)
			b = append(b, '\n')
		}
	}
	sent, limit := 0, s.limit
	for ctx.Err() == nil {
		if limit > 0 {
			s.limit = limit - sent
		} else {
			s.limit = 1000
		}
		res, err := a.scan(s, emit)
		if err != nil {
			a.streamError(w, rc, sse, toAPIError(err, "follow"))
			return
		}
		if len(b) > 0 {
			_, werr := w.Write(b)
			b = b[:0]
			if werr != nil || rc.Flush() != nil {
				return
			}
		}
		a.met.Read(s.topic, res.n, res.bytes)
		sent += res.n
		s.next = res.next
		if res.done || (limit > 0 && sent >= limit) {
			return
		}
		if !res.caughtUp {
			continue
		}
		wctx, stop := context.WithTimeout(ctx, a.opts.Heartbeat)
		err = a.log.Wait(wctx, s.topic, s.part, s.next, s.durable)
		stop()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			if sse {
				if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
					return
				}
			}
		case err != nil:
			a.streamError(w, rc, sse, toAPIError(err, "follow"))
			return
		}
	}
}

// streamError sends an error inside a started stream.
func (a *API) streamError(w http.ResponseWriter, rc *http.ResponseController, sse bool, e *apiError) {
	var b []byte
	if sse {
		b = append(b, "event: error\ndata: "...)
	}
	b = append(b, `{"error":`...)
	b = appendJSONString(b, e.msg)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, e.code)
	b = append(b, '}', '\n')
	if sse {
		b = append(b, '\n')
	}
	w.Write(b)
	rc.Flush()
}
