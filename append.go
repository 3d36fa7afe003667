package millrace

import (
	"context"
	"errors"
	"fmt"

	"github.com/millrace/millrace/internal/batch"
	"github.com/millrace/millrace/internal/commitlog"
)

// Ack says when an append returns.
type Ack int

const (
	// AckDurable returns once the batch is fsynced (per the fsync policy).
	// The default.
	AckDurable Ack = iota
	// AckMemory returns once the batch is accepted and readable.
	AckMemory
)

// AppendOptions tune one append. The zero value is a durable append.
type AppendOptions struct {
	Ack Ack
	// ExpectedOffset, if set (>= 0), makes the append fail with
	// ErrOffsetMismatch unless the partition's next offset is this one:
	// an idempotent, exactly-once append by position.
	ExpectedOffset *int64
	// NoAutoCreate fails appends to unknown topics even when the Log
	// auto-creates topics.
	NoAutoCreate bool
}

// AppendResult locates an appended batch.
type AppendResult struct {
	BaseOffset int64 // offset of the batch's first record
	LastOffset int64 // offset of its last record
	// LogStartOffset is the partition's log start at the time of the
	// append.
	LogStartOffset int64
	// Duplicate is true when the batch came from an idempotent producer
	// and had been stored before: nothing was appended, and the offsets
	// are those it got the first time.
	Duplicate bool
}

// AppendBatch appends one Kafka RecordBatch v2 to a partition. The batch is
// validated (and rejected with an error matching ErrCorruptBatch,
// ErrInvalidBatch or ErrTooLarge), and its base offset is stamped into b in
// place: b belongs to the Log until AppendBatch returns.
//
// A batch from a Kafka idempotent producer (producer id >= 0) is checked
// against the producer's recent batches in that partition: a retry of one
// of the last five is not stored again but answered with its original
// offsets (Duplicate set); a sequence gap fails with ErrOutOfOrderSequence
// and an old epoch with ErrInvalidProducerEpoch.
func (l *Log) AppendBatch(ctx context.Context, topicName string, part int32, b []byte, opts AppendOptions) (AppendResult, error) {
	res, d, err := l.AppendBatchAsync(topicName, part, b, opts)
	if err != nil || opts.Ack == AckMemory {
		return res, err
	}
	return res, d.Wait(ctx)
}

// AppendBatchAsync appends like AppendBatch but returns as soon as the
// batch is accepted (readable), whatever opts.Ack says, with a Durability
// to wait on for its fsync. A front end that appends several batches (one
// Kafka produce request) appends them all first and then waits on each:
// one group commit covers them.
func (l *Log) AppendBatchAsync(topicName string, part int32, b []byte, opts AppendOptions) (AppendResult, Durability, error) {
	p, cfg, err := l.lookup(topicName, part, !opts.NoAutoCreate)
	if err != nil {
		return AppendResult{}, Durability{}, err
	}
	h, err := batch.Validate(b, batch.ValidateOptions{MaxBytes: int(cfg.MaxMessageBytes)})
	if err != nil {
		return AppendResult{}, Durability{}, fmt.Errorf("millrace: append to %s/%d: %w", topicName, part, err)
	}
	res, app, err := l.appendValidated(p, b, h, cfg, opts.ExpectedOffset)
	if err != nil {
		if errors.Is(err, ErrStorage) {
			l.shardFailed(p.shard)
		}
		return res, Durability{}, err
	}
	return res, Durability{l: l, p: p, app: app, last: res.LastOffset, gen: p.gen.Load()}, nil
}

// Durability waits for one accepted append to become durable.
type Durability struct {
	l    *Log
	p    *partition
	app  commitlog.Appended // zero for a duplicate: then the watermark is watched
	last int64
	gen  uint64 // the partition's storage generation at the append
}

// Wait returns nil once the append is fsynced (per the fsync policy), an
// error matching ErrStorage if the write or fsync that should have covered
// it failed, or ctx's error.
func (d Durability) Wait(ctx context.Context) error {
	if d.p == nil {
		return nil
	}
	if d.app.Index != 0 {
		select {
		case <-d.app.Done():
			if err := d.app.Err(); err != nil {
				d.l.shardFailed(d.p.shard)
				return fmt.Errorf("millrace: append to %s/%d at offset %d: %w: %w", d.p.topic.name(), d.p.index, d.last, ErrStorage, err)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("millrace: append to %s/%d at offset %d: waiting for fsync: %w", d.p.topic.name(), d.p.index, d.last, ctx.Err())
		}
	}
	// A duplicate: its original may still be waiting for its fsync. If the
	// shard's storage failed and was reopened meanwhile (a new generation),
	// the original may be gone and its offsets reused: report a failure
	// rather than acknowledge someone else's records.
	for {
		ch := d.p.waitChan()
		if d.p.gen.Load() != d.gen {
			return fmt.Errorf("millrace: append to %s/%d: the original of this duplicate was lost to a storage failure: %w", d.p.topic.name(), d.p.index, ErrStorage)
		}
		if d.p.durable.Load() > d.last {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("millrace: append to %s/%d at offset %d: waiting for fsync: %w", d.p.topic.name(), d.p.index, d.last, ctx.Err())
		case <-d.l.quit:
			return ErrClosed
		}
	}
}

// Notify arranges for fn to be called once, with what Wait(ctx) would
// return, when the append is durable or its storage failed: for a plain
// append on the commit log's flusher as it completes the group commit (no
// goroutine waits, and none has to be woken to learn it), for a duplicate
// of an append still in flight on a goroutine that watches the partition's
// durable watermark until ctx ends. fn must be quick and must not block:
// it may run on the flusher. If ctx ends first, fn gets Wait's error for
// it only on the duplicate path; a caller that answers by a deadline
// arms its own timer (see the Kafka produce handler).
func (d Durability) Notify(ctx context.Context, fn func(error)) {
	switch {
	case d.p == nil:
		fn(nil)
	case d.app.Index != 0:
		l, p, last := d.l, d.p, d.last
		d.app.OnDone(func(err error) {
			if err != nil {
				// On its own goroutine: the flusher calling here must
				// not wait for the log's lock.
				go l.shardFailed(p.shard)
				err = fmt.Errorf("millrace: append to %s/%d at offset %d: %w: %w", p.topic.name(), p.index, last, ErrStorage, err)
			}
			fn(err)
		})
	default:
		go func() { fn(d.Wait(ctx)) }()
	}
}

// appendValidated assigns offsets and hands the batch to the shard's commit
// log, under the partition's append lock.
func (l *Log) appendValidated(p *partition, b []byte, h batch.Header, cfg TopicConfig, expected *int64) (AppendResult, commitlog.Appended, error) {
	count := int64(h.NumRecords)
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.RLock()
	base, start, deleted := p.next, p.logStart, p.deleted
	p.mu.RUnlock()
	if deleted {
		return AppendResult{}, commitlog.Appended{}, fmt.Errorf("millrace: append to %s/%d: topic deleted: %w", p.topic.name(), p.index, ErrUnknownTopic)
	}
	idempotent := h.ProducerID >= 0
	if idempotent {
		d, err := p.producers.Check(h.ProducerID, h.ProducerEpoch, h.BaseSequence, h.NumRecords)
		if err != nil {
			return AppendResult{}, commitlog.Appended{}, fmt.Errorf("millrace: append to %s/%d: %w", p.topic.name(), p.index, err)
		}
		if d.Duplicate {
			if err := p.shard.cl().Err(); err != nil {
				// The original may not have survived the failure: the
				// retry is answered once the shard is reopened.
				return AppendResult{}, commitlog.Appended{}, fmt.Errorf("millrace: append to %s/%d: %w: %w", p.topic.name(), p.index, ErrStorage, err)
			}
			return AppendResult{BaseOffset: d.Base, LastOffset: d.Last, LogStartOffset: start, Duplicate: true}, commitlog.Appended{}, nil
		}
	}
	if expected != nil && *expected != base {
		return AppendResult{}, commitlog.Appended{}, fmt.Errorf("millrace: append to %s/%d: expected offset %d, next offset is %d: %w",
			p.topic.name(), p.index, *expected, base, ErrOffsetMismatch)
	}
	if cfg.SegmentBytes > 0 && cfg.SegmentBytes < l.opts.SegmentBytes {
		p.shard.rollIfSpanFull(p, cfg.SegmentBytes, int64(len(b)))
	}
	batch.SetBaseOffset(b, base)
	app, err := p.shard.cl().Append(uint64(p.id), b, commitlog.Mark{Owner: p, Value: base + count})
	if err != nil {
		if errors.Is(err, commitlog.ErrOverloaded) {
			return AppendResult{}, app, fmt.Errorf("millrace: append to %s/%d: %w", p.topic.name(), p.index, err)
		}
		return AppendResult{}, app, fmt.Errorf("millrace: append to %s/%d: %w: %w", p.topic.name(), p.index, ErrStorage, err)
	}
	e := indexEntry{base: base, last: base + count - 1, firstTs: h.FirstTimestamp, maxTs: h.MaxTimestamp,
		seq: app.Seq, pos: app.Pos, size: app.Size}
	if idempotent {
		p.producers.Record(h.ProducerID, h.ProducerEpoch, h.BaseSequence, h.NumRecords, base)
	}
	p.mu.Lock()
	newRun := p.addEntryLocked(e, true)
	p.wakeLocked()
	p.mu.Unlock()
	p.shard.noteEntry(p, e, count, newRun, true)
	return AppendResult{BaseOffset: base, LastOffset: e.last, LogStartOffset: start}, app, nil
}

// rollIfSpanFull seals the shard's active segment when p's span in it would
// pass the topic's segment.bytes, so that retention can drop p's data at
// that granularity.
func (s *shard) rollIfSpanFull(p *partition, limit, size int64) {
	seq := s.cl().ActiveSeq()
	s.mu.Lock()
	var have int64
	if sp := s.spans[seq][p.id]; sp != nil {
		have = sp.Bytes
	}
	s.mu.Unlock()
	if have > 0 && have+size > limit {
		s.cl().Roll()
	}
}
