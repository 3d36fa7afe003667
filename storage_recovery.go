package millrace

import (
	"fmt"
	"slices"
	"time"

	"github.com/millrace/millrace/internal/commitlog"
)

// A shard whose commit log failed (a write or fsync error) refuses appends
// until its log is reopened from what is really on disk. Recovery runs in a
// goroutine owned by the Log: it retries with backoff until the reopen
// succeeds (the fault has cleared) or the Log closes. Reads keep being
// served from the failed log in the meantime.

// shardFailed starts recovering s unless that is already under way.
func (l *Log) shardFailed(s *shard) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || !s.recovering.CompareAndSwap(false, true) {
		return
	}
	l.opts.Logger.Error("shard storage failed; appends refused until it is reopened", "shard", s.id, "err", s.cl().Err())
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer s.recovering.Store(false)
		backoff := 20 * time.Millisecond
		for attempt := 1; ; attempt++ {
			select {
			case <-l.quit:
				return
			case <-time.After(backoff):
			}
			err := l.reopenShard(s)
			if err == nil {
				l.opts.Logger.Info("shard storage recovered; appends resume", "shard", s.id, "attempts", attempt)
				return
			}
			l.opts.Logger.Warn("shard storage still failing", "shard", s.id, "attempt", attempt, "err", err)
			backoff = min(2*backoff, 2*time.Second)
		}
	}()
}

// reopenShard replaces a failed commit log with a freshly recovered one.
// With every append lock of the shard's partitions held, it reopens the
// log with the page cache dropped, rebuilds the partitions' indexes and
// producer tables from it, and swaps them in: each partition falls back to
// what is durable on disk, as after a crash (what was not acknowledged may
// be gone, and its offsets are assigned again).
func (l *Log) reopenShard(s *shard) error {
	parts := l.shardPartitions(s)
	for _, p := range parts {
		p.appendMu.Lock()
	}
	defer func() {
		for _, p := range parts {
			p.appendMu.Unlock()
		}
	}()
	old := s.cl()
	if old.Err() == nil {
		return nil
	}
	fresh := make(map[int64]*partition, len(parts))
	for _, p := range parts {
		p.mu.RLock()
		fresh[p.id] = &partition{id: p.id, topic: p.topic, index: p.index, shard: s, logStart: p.logStart, next: p.logStart}
		p.mu.RUnlock()
	}
	ns := newShard(l, s.id)
	var skipped int64
	cl, rep, err := commitlog.Open(l.commitlogOptions(s, true), l.replayInto(ns, fresh, &skipped))
	if err != nil {
		return fmt.Errorf("millrace: reopen shard %d after %v: %w", s.id, old.Err(), err)
	}
	for _, p := range parts {
		f := fresh[p.id]
		p.mu.Lock()
		p.entries, p.next, p.producers = f.entries, max(f.next, p.logStart), f.producers
		p.gen.Add(1)
		p.durable.Store(p.next)
		p.wakeLocked()
		p.mu.Unlock()
	}
	byID := make(map[int64]*partition, len(parts))
	for _, p := range parts {
		byID[p.id] = p
	}
	hot := make(map[uint64][]*partition, len(ns.hot))
	seqs := make([]uint64, 0, len(ns.hot))
	for seq, fs := range ns.hot {
		seqs = append(seqs, seq)
		for _, f := range fs {
			hot[seq] = append(hot[seq], byID[f.id])
		}
	}
	s.mu.Lock()
	s.refs, s.spans, s.hot = ns.refs, ns.spans, hot
	s.mu.Unlock()
	s.log.Store(cl)
	l.cold.dropLog(old)
	// The new log's index writer may have told s of segments before their
	// partitions were in s.hot: ask it again.
	for _, seq := range seqs {
		if cl.Indexed(seq) {
			s.onIndexed(seq)
		}
	}
	old.Close()
	l.opts.Logger.Info("shard reopened after a storage failure", "shard", s.id, "entries", rep.Entries, "cut", rep.Cut != nil)
	return l.reconcile(s)
}

// shardPartitions lists the partitions placed on s, by id.
func (l *Log) shardPartitions(s *shard) []*partition {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*partition
	for _, t := range l.topics {
		for _, p := range t.parts {
			if p.shard == s {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b *partition) int { return int(a.id - b.id) })
	return out
}
