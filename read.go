package millrace

import (
	"context"
	"fmt"
	"slices"
)

// ReadResult is what a read returns besides its data.
type ReadResult struct {
	// NextOffset is the offset to read from next.
	NextOffset int64
	// HighWatermark, DurableOffset and LogStartOffset are the partition's
	// watermarks at the time of the read.
	HighWatermark  int64
	DurableOffset  int64
	LogStartOffset int64
}

// batchRef is a stored batch to read, copied out of the index so that the
// index lock is not held across I/O.
type batchRef struct {
	seq  uint64
	pos  int64
	size int32
	last int64
}

// ReadBatches appends to dst the stored batches of a partition starting
// with the one that holds offset, as Kafka's Fetch serves them: whole
// batches, byte for byte, at least one if any is readable, then more while
// the total stays within maxBytes. With durableOnly it stops at the durable
// watermark instead of the high watermark. A read at the high watermark
// returns no data; below the log start or above the high watermark it fails
// with ErrOffsetOutOfRange.
func (l *Log) ReadBatches(topicName string, part int32, offset int64, maxBytes int, durableOnly bool, dst []byte) ([]byte, ReadResult, error) {
	p, _, err := l.lookup(topicName, part, false)
	if err != nil {
		return dst, ReadResult{}, err
	}
	var refsBuf [32]batchRef
	refs := refsBuf[:0]
	p.mu.RLock()
	res := ReadResult{NextOffset: offset, HighWatermark: p.next, DurableOffset: min(p.durable.Load(), p.next), LogStartOffset: p.logStart}
	limit := res.HighWatermark
	if durableOnly {
		limit = res.DurableOffset
	}
	if offset < p.logStart || offset > p.next {
		p.mu.RUnlock()
		return dst, res, fmt.Errorf("millrace: read %s/%d at offset %d: log starts at %d, high watermark %d: %w",
			topicName, part, offset, res.LogStartOffset, res.HighWatermark, ErrOffsetOutOfRange)
	}
	total := 0
	for i := p.findLocked(offset); i < p.entries.len(); i++ {
		e := p.entries.at(i)
		if e.last >= limit || (len(refs) > 0 && total+int(e.size) > maxBytes) {
			break
		}
		refs = append(refs, batchRef{seq: e.seq, pos: e.pos, size: e.size, last: e.last})
		total += int(e.size)
	}
	p.mu.RUnlock()
	dst = slices.Grow(dst, total)
	for _, r := range refs {
		// The frame is read into dst's spare capacity and its payload
		// moved down over the frame header: no buffer of its own.
		n := len(dst)
		payload, err := p.shard.cl().ReadEntry(r.seq, r.pos, r.size, dst[n:n+int(r.size)])
		if err != nil {
			if res.NextOffset > offset {
				break // serve what was read; the next read reports the error
			}
			return dst, res, fmt.Errorf("millrace: read %s/%d at offset %d: %w", topicName, part, offset, err)
		}
		dst = dst[:n+copy(dst[n:n+int(r.size)], payload)]
		res.NextOffset = r.last + 1
	}
	return dst, res, nil
}

// Wait blocks until the partition has a record at offset or beyond (below
// the durable watermark with durableOnly), or ctx is done. It wakes on the
// append itself, not by polling.
func (l *Log) Wait(ctx context.Context, topicName string, part int32, offset int64, durableOnly bool) error {
	p, _, err := l.lookup(topicName, part, false)
	if err != nil {
		return err
	}
	for {
		ch := p.waitChan()
		p.mu.RLock()
		mark, deleted := p.next, p.deleted
		p.mu.RUnlock()
		if durableOnly {
			mark = min(mark, p.durable.Load())
		}
		if mark > offset {
			return nil
		}
		if deleted {
			return fmt.Errorf("millrace: wait on %s/%d: topic deleted: %w", topicName, part, ErrUnknownTopic)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.quit:
			return ErrClosed
		}
	}
}

// Watermarks returns a partition's log start offset, high watermark and
// durable watermark.
func (l *Log) Watermarks(topicName string, part int32) (logStart, high, durable int64, err error) {
	p, _, err := l.lookup(topicName, part, false)
	if err != nil {
		return 0, 0, 0, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.logStart, p.next, min(p.durable.Load(), p.next), nil
}
