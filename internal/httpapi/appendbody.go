package httpapi

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace"
)

// Value encodings of an append.
const (
	encUnset uint8 = iota
	encText
	encBase64
)

// parsedRecord is one record of an append body, located in the body or
// arena.
type parsedRecord struct {
	key, value span
	hdr0, hdr1 int   // its headers: appendState.hdrs[hdr0:hdr1]
	ts         int64 // ms since the epoch, if hasTs
	hasTs      bool
	part       int32 // explicit partition, or -1
	enc        uint8
	// Set when grouping: the partition it goes to and its place in the
	// partition's batch.
	assigned int32
	group    int
	pos      int
}

type parsedHeader struct {
	key   string
	value span
}

// appendState is one append's working memory, pooled across requests.
type appendState struct {
	sc       scanner
	recs     []parsedRecord
	hdrs     []parsedHeader
	enc      uint8 // the request's encoding
	expected []expectedOffset
	out      []millrace.Record
	outHdrs  []millrace.Header
	groups   []group
	resp     []byte
}

type expectedOffset struct {
	part   int32
	offset int64
}

// group is the records bound for one partition: out[start:end].
type group struct {
	part       int32
	start, end int
	res        millrace.AppendResult
	err        error
}

var appendStates = sync.Pool{New: func() any { return new(appendState) }}

func getAppendState() *appendState {
	st := appendStates.Get().(*appendState)
	st.sc = scanner{b: st.sc.b[:0], arena: st.sc.arena[:0]}
	st.recs, st.hdrs, st.expected = st.recs[:0], st.hdrs[:0], st.expected[:0]
	st.groups, st.resp, st.enc = st.groups[:0], st.resp[:0], encUnset
	return st
}

// putAppendState returns st to the pool unless a huge request left it
// holding too much memory.
func putAppendState(st *appendState) {
	if cap(st.sc.b) > 64<<20 || cap(st.sc.arena) > 64<<20 || cap(st.recs) > 1<<20 {
		return
	}
	clear(st.out) // drop references into this request's buffers
	clear(st.outHdrs)
	appendStates.Put(st)
}

// readBody reads the whole body into st.sc.b.
func (st *appendState) readBody(r io.Reader, sizeHint int64) error {
	b := st.sc.b[:0]
	if sizeHint > 0 && int64(cap(b)) < sizeHint+1 {
		b = make([]byte, 0, sizeHint+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			st.sc.b = b
			return nil
		}
		if err != nil {
			st.sc.b = b
			return err
		}
	}
}

// parseEncoding reads an encoding name.
func parseEncoding(s string) (uint8, bool) {
	switch strings.ToLower(s) {
	case "", "utf8", "utf-8", "text":
		return encText, true
	case "base64":
		return encBase64, true
	}
	return 0, false
}

// parseNDJSON scans one record per non-blank line.
func (st *appendState) parseNDJSON() error {
	sc := &st.sc
	body := sc.b
	line := 0
	for pos := 0; pos < len(body); {
		end := bytes.IndexByte(body[pos:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += pos
		}
		line++
		if len(bytes.TrimSpace(body[pos:end])) > 0 {
			// The scanner sees only this line; offsets stay the body's.
			sc.b, sc.i = body[:end], pos
			rec, err := st.parseRecord()
			if err == nil && !sc.atEnd() {
				err = sc.errf("data after the record on the line")
			}
			sc.b = body
			if err != nil {
				return badRequest("line %d: %v", line, err)
			}
			st.recs = append(st.recs, rec)
		}
		pos = end + 1
	}
	return nil
}

// parseJSON scans {"records":[...], "encoding":..., "expected_offsets":{...}}.
func (st *appendState) parseJSON() error {
	sc := &st.sc
	sc.i = 0
	sawRecords := false
	err := sc.object(func(name []byte) error {
		switch string(name) {
		case "records":
			sawRecords = true
			return sc.array(func() error {
				rec, err := st.parseRecord()
				if err != nil {
					return fmt.Errorf("record %d: %w", len(st.recs), err)
				}
				st.recs = append(st.recs, rec)
				return nil
			})
		case "encoding":
			sp, err := sc.str()
			if err != nil {
				return fmt.Errorf("field \"encoding\": %w", err)
			}
			enc, ok := parseEncoding(string(sc.bytes(sp)))
			if !ok {
				return fmt.Errorf("field \"encoding\": %q is not utf8 or base64", sc.bytes(sp))
			}
			st.enc = enc
			return nil
		case "expected_offsets":
			return sc.object(func(name []byte) error {
				p, err := strconv.ParseInt(string(name), 10, 32)
				if err != nil || p < 0 {
					return fmt.Errorf("field \"expected_offsets\": key %q is not a partition number", name)
				}
				off, err := sc.integer()
				if err != nil {
					return fmt.Errorf("field \"expected_offsets\" of partition %d: %w", p, err)
				}
				st.expected = append(st.expected, expectedOffset{int32(p), off})
				return nil
			})
		}
		return fmt.Errorf("unknown field %q (want records, encoding, expected_offsets)", name)
	})
	if err == nil && !sc.atEnd() {
		err = sc.errf("data after the JSON object")
	}
	if err == nil && !sawRecords {
		err = fmt.Errorf("field \"records\" is missing")
	}
	if err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// parseRecord scans one record object.
func (st *appendState) parseRecord() (parsedRecord, error) {
	sc := &st.sc
	rec := parsedRecord{part: -1, hdr0: len(st.hdrs)}
	err := sc.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "key":
			rec.key, err = sc.strOrNull()
		case "value":
			rec.value, err = sc.strOrNull()
		case "headers":
			err = st.parseHeaders()
		case "timestamp":
			rec.ts, rec.hasTs, err = st.parseTimestamp()
		case "partition":
			if sc.literal("null") {
				return nil
			}
			var p int64
			if p, err = sc.integer(); err == nil && (p < 0 || p > 1<<31-1) {
				err = fmt.Errorf("%d is not a partition number", p)
			}
			rec.part = int32(p)
		case "encoding":
			var sp span
			if sp, err = sc.str(); err == nil {
				var ok bool
				if rec.enc, ok = parseEncoding(string(sc.bytes(sp))); !ok {
					err = fmt.Errorf("%q is not utf8 or base64", sc.bytes(sp))
				}
			}
		default:
			return fmt.Errorf("unknown field %q (want key, value, headers, timestamp, partition, encoding)", name)
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		return nil
	})
	rec.hdr1 = len(st.hdrs)
	return rec, err
}

// parseHeaders reads {"k":"v",...} or [{"key":"k","value":"v"},...].
func (st *appendState) parseHeaders() error {
	sc := &st.sc
	if sc.literal("null") {
		return nil
	}
	if sc.peek() == '{' {
		return sc.object(func(name []byte) error {
			v, err := sc.strOrNull()
			if err != nil {
				return fmt.Errorf("header %q: %w", name, err)
			}
			st.hdrs = append(st.hdrs, parsedHeader{key: string(name), value: v})
			return nil
		})
	}
	return sc.array(func() error {
		h := parsedHeader{}
		sawKey := false
		err := sc.object(func(name []byte) error {
			var err error
			switch string(name) {
			case "key":
				var sp span
				if sp, err = sc.str(); err == nil {
					h.key, sawKey = string(sc.bytes(sp)), true
				}
			case "value":
				h.value, err = sc.strOrNull()
			default:
				return fmt.Errorf("header has unknown field %q (want key, value)", name)
			}
			return err
		})
		if err == nil && !sawKey {
			err = fmt.Errorf("header %d has no \"key\"", len(st.hdrs))
		}
		st.hdrs = append(st.hdrs, h)
		return err
	})
}

// parseTimestamp reads epoch milliseconds (a number) or an RFC 3339 time
// (a string); null means "now".
func (st *appendState) parseTimestamp() (int64, bool, error) {
	sc := &st.sc
	if sc.literal("null") {
		return 0, false, nil
	}
	if sc.peek() == '"' {
		sp, err := sc.str()
		if err != nil {
			return 0, false, err
		}
		ms, err := parseTime(string(sc.bytes(sp)))
		return ms, err == nil, err
	}
	ms, err := sc.integer()
	return ms, err == nil, err
}

// parseTime reads an RFC 3339 time or epoch milliseconds.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither an RFC 3339 time (2006-01-02T15:04:05Z) nor epoch milliseconds", s)
	}
	return t.UnixMilli(), nil
}

// decodeBase64 replaces the base64 spans of records whose encoding (their
// own, else the request's) is base64 by their decoded bytes.
func (st *appendState) decodeBase64() error {
	sc := &st.sc
	dec := func(sp *span) error {
		if sp.src == spanNull {
			return nil
		}
		src := sc.bytes(*sp)
		off, need := len(sc.arena), base64.StdEncoding.DecodedLen(len(src))
		sc.arena = slices.Grow(sc.arena, need)[:off+need]
		// src may alias the arena just grown: resolve it again.
		src = sc.bytes(*sp)
		n, err := base64.StdEncoding.Decode(sc.arena[off:], src)
		if err != nil {
			return err
		}
		sc.arena = sc.arena[:off+n]
		*sp = span{off: off, n: n, src: spanArena}
		return nil
	}
	for i := range st.recs {
		rec := &st.recs[i]
		enc := rec.enc
		if enc == encUnset {
			enc = st.enc
		}
		if enc != encBase64 {
			continue
		}
		if err := dec(&rec.key); err != nil {
			return badRequest("record %d: key is not valid base64: %v", i, err)
		}
		if err := dec(&rec.value); err != nil {
			return badRequest("record %d: value is not valid base64: %v", i, err)
		}
		for j := rec.hdr0; j < rec.hdr1; j++ {
			if err := dec(&st.hdrs[j].value); err != nil {
				return badRequest("record %d: header %q is not valid base64: %v", i, st.hdrs[j].key, err)
			}
		}
	}
	return nil
}

// parseExpectedOffsets reads the expected_offsets query parameter,
// "0:42,1:17".
func (st *appendState) parseExpectedOffsets(q string) error {
	for _, item := range strings.Split(q, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(item), ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		off, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 {
			return badRequest("expected_offsets %q: want PARTITION:OFFSET pairs separated by commas, e.g. 0:42,1:17", q)
		}
		st.expected = append(st.expected, expectedOffset{int32(p), off})
	}
	return nil
}
