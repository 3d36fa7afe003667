package commitlog

import (
	"fmt"
	"time"
)

// run is the flusher goroutine: it owns every write and sync. It is started
// by Open and returns when Close closes quit, after a last flush.
func (l *Log) run() {
	defer close(l.done)
	defer l.prioritize()()
	var tick <-chan time.Time
	period := time.Duration(0)
	if l.opts.Sync.Mode == SyncInterval {
		period = l.opts.Sync.Interval
	}
	if l.opts.SegmentAge > 0 && (period == 0 || l.opts.SegmentAge/4 < period) {
		period = max(l.opts.SegmentAge/4, time.Millisecond)
	}
	if period > 0 {
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	var unsynced []*chunk // written, waiting for the interval sync
	var lastSync time.Time
	for {
		syncNow := l.opts.Sync.Mode == SyncAlways
		select {
		case <-l.wake:
		case <-tick:
			l.rollIfOld()
		case <-l.quit:
			l.flush(unsynced, true, true)
			return
		}
		if l.opts.Sync.Mode == SyncInterval && time.Since(lastSync) >= l.opts.Sync.Interval {
			syncNow = true
			lastSync = time.Now()
		}
		unsynced = l.flush(unsynced, syncNow, false)
	}
}

// rollIfOld seals an idle active segment that has outlived SegmentAge.
func (l *Log) rollIfOld() {
	if l.opts.SegmentAge <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed && l.failed == nil && l.activeSize > 0 && time.Since(l.activeAt) >= l.opts.SegmentAge {
		l.rollLocked()
	}
}

// flush writes every chunk appended since the last flush, syncs if asked,
// and completes what became durable. unsynced carries written chunks from
// one call to the next under the interval policy.
func (l *Log) flush(unsynced []*chunk, syncNow, final bool) []*chunk {
	l.mu.Lock()
	batch := append(l.flushBuf[:0], l.mem[l.unflushed:]...)
	defer func() {
		clear(batch) // hold no chunk past its eviction
		l.flushBuf = batch[:0]
	}()
	l.unflushed = len(l.mem)
	l.cur = nil
	err := l.failed
	l.mu.Unlock()

	start := time.Now()
	var dirty *segment
	for _, c := range batch {
		if err != nil {
			break
		}
		var s *segment
		if s, err = l.writeChunk(c); err == nil && !s.sealed {
			dirty = s
		}
	}
	unsynced = append(unsynced, batch...)
	wrote := time.Since(start)
	var synced time.Duration
	var done []*chunk
	switch {
	case err != nil:
		done = unsynced
	case l.opts.Sync.Mode == SyncNever && !final:
		done = unsynced
	case syncNow || final:
		if syncNow && !final && l.opts.UnwaitedSyncDelay > 0 && len(batch) > 0 {
			l.holdUnwaitedSync(unsynced)
		}
		if dirty == nil {
			dirty = l.activeSegment()
		}
		if dirty != nil {
			t := time.Now()
			if serr := dirty.file.Sync(); serr != nil {
				err = fmt.Errorf("commitlog: sync %s: %w", dirty.path, serr)
			}
			synced = time.Since(t)
		}
		done = unsynced
	default:
		return unsynced
	}
	if l.opts.OnFlush != nil && len(done) > 0 {
		fi := FlushInfo{Write: wrote, Sync: synced, Err: err}
		for _, c := range done {
			fi.Appends += len(c.marks)
			fi.Bytes += int64(len(c.buf))
		}
		l.opts.OnFlush(fi)
	}
	l.complete(done, err, time.Since(start))
	return unsynced[:0]
}

// holdUnwaitedSync waits up to Options.UnwaitedSyncDelay before the fsync
// of chunks nobody waits for. It ends early once an entry is waited for
// (the signal is never drained first: a stale one only shortens a hold,
// while draining could lose the want of an entry appended during the
// writes), once the data appended meanwhile reaches a quarter of
// MaxPendingBytes (the hold also holds back writes, and must not make
// appends shed), or when the log closes.
func (l *Log) holdUnwaitedSync(chunks []*chunk) {
	for _, c := range chunks {
		if c.wanted.Load() {
			return
		}
	}
	t := time.NewTimer(l.opts.UnwaitedSyncDelay)
	defer t.Stop()
	check := time.NewTicker(min(max(l.opts.UnwaitedSyncDelay/8, 100*time.Microsecond), time.Millisecond))
	defer check.Stop()
	for {
		select {
		case <-l.wanted:
			return
		case <-t.C:
			return
		case <-l.quit:
			return
		case <-check.C:
			if l.PendingBytes() >= l.opts.MaxPendingBytes/4 {
				return
			}
		}
	}
}

// activeSegment returns the active segment's file if it exists yet.
func (l *Log) activeSegment() *segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.segs[l.activeSeq]
}

// writeChunk writes one chunk at its place, creating its segment first if
// needed, and seals the segment if the chunk ends it.
func (l *Log) writeChunk(c *chunk) (*segment, error) {
	s, err := l.segmentFor(c.seq)
	if err != nil {
		return nil, err
	}
	if len(c.buf) > 0 {
		if _, err := s.file.WriteAt(c.buf, c.pos); err != nil {
			return nil, fmt.Errorf("commitlog: write %d bytes at %d of %s: %w", len(c.buf), c.pos, s.path, err)
		}
		first := c.lastIdx - uint64(len(c.marks)) + 1
		l.mu.Lock()
		s.size = c.pos + int64(len(c.buf))
		if s.firstIndex == 0 {
			s.firstIndex = first
		}
		s.lastIndex = c.lastIdx
		moved := l.noteWrittenLocked(s.seq, s.size)
		l.mu.Unlock()
		if moved && l.dropWake != nil {
			l.wakeDropper()
		}
		l.recordLive(s, c.buf, c.pos+int64(len(c.buf)))
	}
	if c.seal {
		if err := l.seal(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// segmentFor returns the open segment seq, creating and preallocating it.
func (l *Log) segmentFor(seq uint64) (*segment, error) {
	l.mu.Lock()
	s := l.segs[seq]
	l.mu.Unlock()
	if s != nil {
		return s, nil
	}
	path := l.path(seq)
	f, err := l.opts.FS.Create(path)
	if err != nil {
		return nil, fmt.Errorf("commitlog: create segment %s: %w", path, err)
	}
	if !l.opts.NoPreallocate {
		if err := f.Preallocate(l.opts.SegmentBytes); err != nil {
			f.Close()
			return nil, fmt.Errorf("commitlog: preallocate %d bytes for %s: %w", l.opts.SegmentBytes, path, err)
		}
	}
	if err := l.opts.FS.SyncDir(l.opts.Dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("commitlog: sync directory %s: %w", l.opts.Dir, err)
	}
	s = &segment{seq: seq, path: path, file: f, createdAt: time.Now(), liveOn: l.opts.IndexPrefix > 0}
	l.mu.Lock()
	l.segs[seq] = s
	l.mu.Unlock()
	return s, nil
}

// seal makes a segment durable and exact-sized, then reports it.
func (l *Log) seal(s *segment) error {
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("commitlog: sync %s before sealing: %w", s.path, err)
	}
	if err := s.file.Truncate(s.size); err != nil {
		return fmt.Errorf("commitlog: cut %s to %d bytes: %w", s.path, s.size, err)
	}
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("commitlog: sync %s after cutting: %w", s.path, err)
	}
	l.mu.Lock()
	s.sealed = true
	info := SegmentInfo{Seq: s.seq, Size: s.size, Sealed: true, CreatedAt: s.createdAt, FirstIndex: s.firstIndex, LastIndex: s.lastIndex}
	l.mu.Unlock()
	if l.opts.OnSeal != nil {
		if err := l.opts.OnSeal(info); err != nil {
			return fmt.Errorf("commitlog: after sealing segment %d: %w", s.seq, err)
		}
	}
	if l.opts.IndexPrefix > 0 {
		l.queueIndex(s)
	}
	return nil
}

// complete finishes chunks: on success it reports their marks as durable
// and keeps them as tail cache; on failure it fails the log. Either way it
// wakes their waiters and calls what OnDone registered. Marks are handed
// back before waiters wake, so that a waiter sees the watermarks its entry
// moved.
func (l *Log) complete(chunks []*chunk, err error, took time.Duration) {
	if len(chunks) == 0 && err == nil {
		return
	}
	l.mu.Lock()
	if err != nil && l.failed == nil {
		l.failed = err
		l.opts.Logger.Error("commit log failed; appends refused until reopened", "dir", l.opts.Dir, "err", err)
	}
	for _, c := range chunks {
		c.written, c.durable = true, true
		l.pending -= int64(len(c.buf))
		l.cached += int64(len(c.buf))
		c.err = err
	}
	l.lastFlush = took
	l.mu.Unlock()
	for _, c := range chunks {
		if err == nil && l.opts.OnDurable != nil && len(c.marks) > 0 {
			l.opts.OnDurable(c.marks)
		}
	}
	// The functions OnDone registered are taken before any done channel
	// closes: whoever sees Done closed and registers then finds notified
	// set and calls its function itself, never to have it called later by
	// this goroutine.
	var notify [][]func(error)
	l.mu.Lock()
	for _, c := range chunks {
		if len(c.notify) > 0 {
			notify = append(notify, c.notify)
		}
		c.notify, c.notified = nil, true
		l.recycleMarksLocked(c)
	}
	l.evictLocked()
	l.mu.Unlock()
	for _, c := range chunks {
		close(c.done)
	}
	for _, fns := range notify {
		for _, fn := range fns {
			fn(err)
		}
	}
}

// maxFreeMarks bounds the free list of marks slices.
const maxFreeMarks = 64

// recycleMarksLocked takes a completed chunk's marks, whose work is done
// (OnDurable has had them), emptied of their owners, onto the free list
// for a new chunk: a chunk's marks grow by append, and a fresh slice per
// chunk was a tenth of the server's allocations at acks=1 (BENCHMARKS.md,
// seventh pass). l.mu is held.
func (l *Log) recycleMarksLocked(c *chunk) {
	if c.marks == nil {
		return
	}
	if len(l.freeMarks) < maxFreeMarks {
		clear(c.marks)
		l.freeMarks = append(l.freeMarks, c.marks[:0])
	}
	c.marks = nil
}

// evictLocked drops the oldest durable chunks past the tail cache bound and
// keeps their buffers for reuse. The front of l.mem is resliced away, not
// copied down: with many small chunks cached, a copy per eviction would
// cost the whole cache's length on every group commit.
func (l *Log) evictLocked() {
	n := 0
	for n < l.unflushed && (l.cached > l.opts.TailCacheBytes || l.failed != nil) {
		c := l.mem[n]
		if !c.durable {
			break
		}
		l.cached -= int64(len(c.buf))
		l.unrefLocked(c.blk)
		c.buf, c.blk, c.marks = nil, nil, nil
		n++
	}
	if n > 0 {
		clear(l.mem[:n])
		l.mem = l.mem[n:]
		l.unflushed -= n
	}
}
