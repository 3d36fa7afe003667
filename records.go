package millrace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/batch"
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record. A nil Key or Value is null, distinct from empty.
type Record struct {
	Offset    int64     // set by the Log on append and read
	Timestamp time.Time // the zero time means "now" on append
	Key       []byte
	Value     []byte
	Headers   []Header
}

// errStopDecode ends a batch.Records walk early; it never leaves the
// package.
var errStopDecode = errors.New("millrace: stop decoding")

var builders = sync.Pool{New: func() any { return new(builderBuf) }}

type builderBuf struct {
	b   batch.Builder
	out []byte
}

// Append appends records to a partition as one batch and returns the
// offsets they got: the first record gets res.BaseOffset, the next one
// more, and so on.
func (l *Log) Append(ctx context.Context, topicName string, part int32, records []Record, opts AppendOptions) (AppendResult, error) {
	if len(records) == 0 {
		return AppendResult{}, fmt.Errorf("millrace: append to %s/%d: no records: %w", topicName, part, ErrInvalid)
	}
	bb := builders.Get().(*builderBuf)
	defer builders.Put(bb)
	bb.b.Reset(batch.BuildOptions{})
	now := l.now().UnixMilli()
	var hdrs []batch.RecordHeader
	for _, r := range records {
		ts := now
		if !r.Timestamp.IsZero() {
			ts = r.Timestamp.UnixMilli()
		}
		hdrs = hdrs[:0]
		for _, h := range r.Headers {
			hdrs = append(hdrs, batch.RecordHeader{Key: h.Key, Value: h.Value})
		}
		bb.b.Add(batch.Record{Timestamp: ts, Key: r.Key, Value: r.Value, Headers: hdrs})
	}
	var err error
	bb.out, err = bb.b.AppendTo(bb.out[:0])
	if err != nil {
		return AppendResult{}, fmt.Errorf("millrace: append to %s/%d: %w", topicName, part, err)
	}
	return l.AppendBatch(ctx, topicName, part, bb.out, opts)
}

// ReadOptions tune Read.
type ReadOptions struct {
	// MaxRecords bounds the records returned; default 1000.
	MaxRecords int
	// MaxBytes bounds the stored bytes read (at least one batch is read);
	// default 1 MiB.
	MaxBytes int
	// DurableOnly reads only fsynced records.
	DurableOnly bool
}

// Read returns the records of a partition from offset on, decoded.
func (l *Log) Read(topicName string, part int32, offset int64, opts ReadOptions) ([]Record, ReadResult, error) {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 1000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 20
	}
	data, res, err := l.ReadBatches(topicName, part, offset, opts.MaxBytes, opts.DurableOnly, nil)
	if err != nil {
		return nil, res, err
	}
	var out []Record
	next := offset
	for len(data) > 0 && len(out) < opts.MaxRecords {
		b, rest, err := batch.Next(data)
		if err != nil {
			return out, res, fmt.Errorf("millrace: read %s/%d at %d: %w", topicName, part, offset, err)
		}
		data = rest
		err = batch.Records(b, func(r *batch.Record) error {
			if r.Offset < next {
				return nil
			}
			if len(out) >= opts.MaxRecords {
				return errStopDecode
			}
			out = append(out, toRecord(r))
			next = r.Offset + 1
			return nil
		})
		if err != nil && err != errStopDecode {
			return out, res, fmt.Errorf("millrace: read %s/%d at %d: %w", topicName, part, offset, err)
		}
		if err == nil {
			h, _ := batch.ReadHeader(b)
			next = max(next, h.LastOffset()+1)
		}
	}
	res.NextOffset = next
	return out, res, nil
}

// toRecord copies a decoded record out of the decoder's buffers.
func toRecord(r *batch.Record) Record {
	out := Record{Offset: r.Offset, Timestamp: time.UnixMilli(r.Timestamp)}
	if r.Key != nil {
		out.Key = append([]byte{}, r.Key...)
	}
	if r.Value != nil {
		out.Value = append([]byte{}, r.Value...)
	}
	for _, h := range r.Headers {
		hv := h.Value
		if hv != nil {
			hv = append([]byte{}, hv...)
		}
		out.Headers = append(out.Headers, Header{Key: h.Key, Value: hv})
	}
	return out
}

// OffsetForTime returns the offset of the first record of a partition with
// a timestamp at or after ts, found through the time index (it decodes one
// batch, not the partition). If no record is that recent, it returns the
// high watermark.
func (l *Log) OffsetForTime(topicName string, part int32, ts time.Time) (int64, error) {
	p, _, err := l.lookup(topicName, part, false)
	if err != nil {
		return 0, err
	}
	target := ts.UnixMilli()
	e, found, logStart, hw, err := l.entryAtTime(p, target)
	if err != nil {
		return 0, fmt.Errorf("millrace: offset for time in %s/%d: %w", topicName, part, err)
	}
	if !found {
		return hw, nil
	}
	payload, err := p.shard.cl().ReadEntry(e.seq, e.pos, e.size, nil)
	if err != nil {
		return 0, fmt.Errorf("millrace: offset for time in %s/%d: %w", topicName, part, err)
	}
	at := int64(-1)
	err = batch.Records(payload, func(r *batch.Record) error {
		if r.Timestamp >= target && r.Offset >= logStart {
			at = r.Offset
			return errStopDecode
		}
		return nil
	})
	if err != nil && err != errStopDecode {
		return 0, fmt.Errorf("millrace: offset for time in %s/%d: %w", topicName, part, err)
	}
	if at < 0 {
		// Only the batch's max timestamp passed (records out of order
		// past logStart): the next batch starts after it.
		at = e.last + 1
	}
	return max(at, logStart), nil
}

// entryAtTime returns the index entry of p's first batch at or past the
// log start holding a record with timestamp at least ts (found false if
// none), with the log start and high watermark read under the same lock.
// The batch may be in a cold run, read back through the cache.
func (l *Log) entryAtTime(p *partition, ts int64) (e indexEntry, found bool, logStart, hw int64, err error) {
	var cold *coldSegment
	for loads := 0; ; {
		var need uint64
		p.mu.RLock()
		logStart, hw = p.logStart, p.next
		runs := p.entries.segments()
		for ri := p.entries.findRunTime(ts); ri < len(runs) && !found && need == 0 && err == nil; ri++ {
			if runs[ri].span.MaxTimestamp < ts {
				continue // earlier runs reached ts, not this one
			}
			b, from, ok, rerr := p.runEntriesLocked(ri, cold)
			switch {
			case rerr != nil:
				err = rerr
			case !ok:
				need = runs[ri].seq
			default:
				if j := firstAtTime(b, from, logStart, ts); j < b.len() {
					e, found = *b.at(j), true
				}
			}
		}
		p.mu.RUnlock()
		if err != nil || need == 0 {
			return e, found, logStart, hw, err
		}
		if cold, err = l.readBack(p, need, &loads); err != nil {
			return e, false, logStart, hw, err
		}
	}
}

// firstAtTime returns the index in b, from from on, of the first entry
// whose last offset is at least logStart and whose max timestamp is at
// least ts, or b.len(). runMaxTs counts from b's first entry, so it is
// searchable from an entry only if no entry before it reached ts; else
// (batches below the log start did) the entries are walked.
func firstAtTime(b *entryBlocks, from int, logStart, ts int64) int {
	i := b.search(from, func(e *indexEntry) bool { return e.last >= logStart })
	if i == b.len() || i == 0 || b.at(i-1).runMaxTs < ts {
		return b.search(i, func(e *indexEntry) bool { return e.runMaxTs >= ts })
	}
	for i < b.len() && b.at(i).maxTs < ts {
		i++
	}
	return i
}

// Follow calls fn for each record of a partition from offset on, waiting
// for new ones as they arrive, until fn returns an error or ctx is done.
func (l *Log) Follow(ctx context.Context, topicName string, part int32, offset int64, opts ReadOptions, fn func(Record) error) error {
	for {
		recs, res, err := l.Read(topicName, part, offset, opts)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		offset = res.NextOffset
		if len(recs) == 0 {
			if err := l.Wait(ctx, topicName, part, offset, opts.DurableOnly); err != nil {
				return err
			}
		}
	}
}
