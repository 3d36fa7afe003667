package millrace

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/millrace/millrace/internal/commitlog"
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
	var res ReadResult
	var limit int64
	total, next := 0, offset
	var cold *coldSegment // the segment of a cold run, read back
	for loads := 0; ; {
		p.mu.RLock()
		if len(refs) == 0 {
			res = ReadResult{NextOffset: offset, HighWatermark: p.next, DurableOffset: min(p.durable.Load(), p.next), LogStartOffset: p.logStart}
			limit = res.HighWatermark
			if durableOnly {
				limit = res.DurableOffset
			}
			if offset < p.logStart || offset > p.next {
				p.mu.RUnlock()
				return dst, res, fmt.Errorf("millrace: read %s/%d at offset %d: log starts at %d, high watermark %d: %w",
					topicName, part, offset, res.LogStartOffset, res.HighWatermark, ErrOffsetOutOfRange)
			}
		} else if next < p.logStart {
			p.mu.RUnlock()
			break // trimmed while a segment was read back: serve what is listed
		}
		var need uint64
		var cerr error
		refs, total, need, cerr = p.collectLocked(next, limit, maxBytes, total, cold, refs)
		p.mu.RUnlock()
		if cerr != nil {
			return dst, res, fmt.Errorf("millrace: read %s/%d at offset %d: %w", topicName, part, offset, cerr)
		}
		if need == 0 {
			break
		}
		if cold, err = l.readBack(p, need, &loads); err != nil {
			if len(refs) > 0 {
				break // serve what is listed; the next read goes on from there
			}
			return dst, res, fmt.Errorf("millrace: read %s/%d at offset %d: %w", topicName, part, offset, err)
		}
		if len(refs) > 0 {
			next = refs[len(refs)-1].last + 1
		}
	}
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

// maxColdLoads bounds how many cold segments one read reads back.
const maxColdLoads = 8

// readBack returns segment need of p's shard read back (coldCache.get), for
// a caller that found a cold run it needs and will look again under the
// partition's lock. *loads counts the read-backs of one call, at most
// maxColdLoads. A segment retention deleted meanwhile is no error: it
// returns nil, and the caller's next look finds what is left.
func (l *Log) readBack(p *partition, need uint64, loads *int) (*coldSegment, error) {
	if *loads == maxColdLoads {
		return nil, fmt.Errorf("%d segments' indexes read back, and retention moved on each time", *loads)
	}
	*loads++
	cold, err := l.cold.get(p.shard, need)
	if errors.Is(err, commitlog.ErrSegmentGone) {
		return nil, nil
	}
	return cold, err
}

// collectLocked appends to refs the batches from the one holding offset
// on, below limit, while total (the bytes listed so far) stays within
// maxBytes, listing at least one. If it comes to a cold run whose segment
// cold is not, it stops there and returns that segment as need: the
// caller reads it back without the lock and collects on.
func (p *partition) collectLocked(offset, limit int64, maxBytes, total int, cold *coldSegment, refs []batchRef) (_ []batchRef, _ int, need uint64, err error) {
	runs := p.entries.segments()
	for ri := p.entries.findRun(offset); ri < len(runs); ri++ {
		b, from, ok, err := p.runEntriesLocked(ri, cold)
		if err != nil {
			return refs, total, 0, err
		}
		if !ok {
			if len(refs) > 0 && total >= maxBytes {
				return refs, total, 0, nil // full: no need to read the next segment back
			}
			return refs, total, runs[ri].seq, nil
		}
		for j := b.search(from, func(e *indexEntry) bool { return e.last >= offset }); j < b.len(); j++ {
			e := b.at(j)
			if e.last >= limit || (len(refs) > 0 && total+int(e.size) > maxBytes) {
				return refs, total, 0, nil
			}
			refs = append(refs, batchRef{seq: e.seq, pos: e.pos, size: e.size, last: e.last})
			total += int(e.size)
		}
	}
	return refs, total, 0, nil
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
