package millrace

import (
	"fmt"
	"time"

	"github.com/millrace/millrace/internal/retention"
)

// retentionLoop runs retention every RetentionInterval until Close.
func (l *Log) retentionLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
			rep, err := l.EnforceRetention()
			if err != nil {
				l.opts.Logger.Error("retention pass failed", "err", err)
			}
			if l.opts.OnRetention != nil {
				l.opts.OnRetention(rep)
			}
		}
	}
}

// RetentionReport says what one retention pass did.
type RetentionReport struct {
	Partitions      int // partitions whose log start moved
	SegmentsDeleted int // commit-log files removed
}

// EnforceRetention runs one retention pass now: it advances log start
// offsets per each topic's retention.bytes and retention.ms, by whole
// segment spans, and deletes commit-log segments no partition references.
// It runs in the background every Options.RetentionInterval as well.
func (l *Log) EnforceRetention() (RetentionReport, error) {
	var rep RetentionReport
	l.mu.RLock()
	type work struct {
		p   *partition
		pol retention.Policy
	}
	var todo []work
	for _, t := range l.topics {
		pol := retention.Policy{Bytes: t.meta.Config.RetentionBytes, Ms: t.meta.Config.RetentionMs}
		if pol.Bytes < 0 && pol.Ms < 0 {
			continue
		}
		for _, p := range t.parts {
			todo = append(todo, work{p, pol})
		}
	}
	l.mu.RUnlock()

	nowMs := l.now().UnixMilli()
	starts := make(map[int64]int64)
	var spans []retention.Span
	for _, w := range todo {
		active := w.p.shard.cl().ActiveSeq()
		w.p.mu.Lock()
		spans = spansOf(&w.p.entries, active, spans[:0])
		var activeBytes int64
		for _, s := range w.p.entries.segments() {
			if s.seq >= active {
				activeBytes += s.span.Bytes
			}
		}
		start, dropped := retention.NewStart(spans, activeBytes, w.pol, nowMs)
		var released []uint64
		if dropped > 0 && start > w.p.logStart {
			w.p.logStart = start
			released = w.p.trimLocked(nil) // to a whole span's start
			starts[w.p.id] = start
		}
		w.p.mu.Unlock()
		w.p.shard.release(released)
	}
	if len(starts) > 0 {
		if err := l.man.SetLogStartOffsets(starts); err != nil {
			return rep, fmt.Errorf("millrace: retention: record log start offsets: %w", err)
		}
		rep.Partitions = len(starts)
	}
	n, err := l.deleteUnreferenced()
	rep.SegmentsDeleted = n
	if rep.Partitions > 0 || n > 0 {
		l.opts.Logger.Info("retention", "partitions_advanced", rep.Partitions, "segments_deleted", n)
	}
	return rep, err
}

// spansOf groups a partition's index entries by sealed segment.
func spansOf(entries *entryIndex, active uint64, out []retention.Span) []retention.Span {
	for _, s := range entries.segments() {
		if s.seq >= active {
			break
		}
		out = append(out, s.span)
	}
	return out
}

// deleteUnreferenced removes every sealed segment that no partition has a
// record in, file first, then its manifest row.
func (l *Log) deleteUnreferenced() (int, error) {
	n := 0
	for _, s := range l.shards {
		for _, seq := range s.unreferenced() {
			if err := s.cl().DeleteSegment(seq); err != nil {
				return n, fmt.Errorf("millrace: retention: %w", err)
			}
			if err := l.man.DeleteSegment(s.id, seq); err != nil {
				return n, fmt.Errorf("millrace: retention: %w", err)
			}
			s.mu.Lock()
			delete(s.refs, seq)
			delete(s.hot, seq)
			s.mu.Unlock()
			l.cold.drop(s.cl(), seq)
			n++
		}
	}
	return n, nil
}

// Truncate moves a partition's log start offset to before, making every
// record below it unreadable (Kafka's DeleteRecords). before must be
// between the current log start and the high watermark; the space is
// reclaimed when whole segments become unreferenced.
func (l *Log) Truncate(topicName string, part int32, before int64) (int64, error) {
	p, _, err := l.lookup(topicName, part, false)
	if err != nil {
		return 0, err
	}
	// appendMu serializes truncations of the partition; p.mu is not held
	// across the manifest write, so readers and the flusher are not stalled.
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.RLock()
	start, hw := p.logStart, p.next
	p.mu.RUnlock()
	if before < 0 || before > hw {
		return 0, fmt.Errorf("millrace: truncate %s/%d before %d: high watermark is %d: %w", topicName, part, before, hw, ErrOffsetOutOfRange)
	}
	if before <= start {
		return start, nil
	}
	if err := l.man.SetLogStartOffsets(map[int64]int64{p.id: before}); err != nil {
		return 0, fmt.Errorf("millrace: truncate %s/%d: %w", topicName, part, err)
	}
	// A cold run the new start falls inside is read back first, so that
	// its summary is trimmed exactly (bytes, batches, timestamps).
	var cold *coldSegment
	p.mu.Lock()
	for loads := 0; ; {
		need := p.coldRunInsideLocked(before, cold)
		if need == 0 {
			break
		}
		p.mu.Unlock()
		cold, err = l.readBack(p, need, &loads)
		p.mu.Lock()
		if err != nil {
			l.opts.Logger.Warn("truncate: a cold run not read back; its summary keeps the truncated batches until its segment goes",
				"topic", topicName, "partition", part, "segment", need, "err", err)
			break
		}
	}
	p.logStart = max(p.logStart, before)
	released := p.trimLocked(cold)
	p.mu.Unlock()
	p.shard.release(released)
	return before, nil
}
