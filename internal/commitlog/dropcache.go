package commitlog

import "time"

// dropSlice is how much of a segment's page cache the dropper hands to one
// fadvise call, and how far the write head moves between two calls at a
// steady load.
//
// The history of this choice (BENCHMARKS.md): one call for a whole 256 MiB
// segment held a core in the kernel for 32–56 ms every two seconds at
// 120 MB/s (sixth pass). In 8 MiB slices a millisecond apart, once per
// sealed segment, each call still took 0.5–4 ms, and an execution trace
// showed the Kafka connections' socket writes stalled 1.7–1.8 ms at a time,
// again and again, for the 30 ms or so the slices ran (seventh pass).
// Spreading the same slices over a second made it worse: the next segment's
// writes then found no freed pages and touched fresh ones, dear on the
// project's VM. Dropping a megabyte behind the head for each megabyte
// written frees the pages at the rate the writes take them.
const dropSlice = 1 << 20

// dropCatchUpPause separates the dropper's calls when it has more than one
// slice to drop at once (after a burst of writes, or at the start, when the
// last recovered segment is still cached): the kernel's work stays in
// pieces of about a slice.
const dropCatchUpPause = 200 * time.Microsecond

// noteWrittenLocked records that the flusher has written segment seq up to
// end, and reports whether the head moved into another slice (or another
// segment): then the dropper has work. l.mu is held.
func (l *Log) noteWrittenLocked(seq uint64, end int64) bool {
	moved := seq != l.headSeq || end/dropSlice != l.headPos/dropSlice
	l.headSeq, l.headPos = seq, end
	return moved
}

// wakeDropper tells the dropper that the write head moved on.
func (l *Log) wakeDropper() {
	select {
	case l.dropWake <- struct{}{}:
	default:
	}
}

// dropper is the goroutine that keeps the page cache of a log with
// Options.DropSealedCache at one segment's worth: as the flusher's write
// head moves through segment N, it drops segment N-1's cached pages up to
// the same offset (fadvise DONTNEED), a slice at a time, and every earlier
// segment whole. It starts at seq, the first segment Open read, or the
// last one Open found, once the first write moves the head (segments Open
// replayed from their index files were not read, and the run that wrote
// them dropped them as it went), and returns when Close closes quit.
func (l *Log) dropper(seq uint64) {
	defer close(l.dropDone)
	var off int64     // seq's pages before off are dropped (or skipped)
	var warned uint64 // the last segment a failed drop was logged for
	for {
		select {
		case <-l.quit:
			return
		case <-l.dropWake:
		}
		for first := true; ; first = false {
			s, from, to := l.nextDrop(&seq, &off)
			if s == nil {
				break
			}
			if !first {
				select {
				case <-l.quit:
					l.release(s)
					return
				case <-time.After(dropCatchUpPause):
				}
			}
			err := s.file.DropCacheRange(from, to-from)
			l.release(s)
			if err != nil && s.seq != warned {
				// Once per segment: the slice is skipped, its pages left
				// to the kernel's own eviction, and a failure that lasts
				// must not log a hundred lines a second.
				warned = s.seq
				l.opts.Logger.Warn("cached pages of a written segment not dropped", "dir", l.opts.Dir, "segment", s.seq, "err", err)
			}
			off = to
		}
	}
}

// nextDrop returns the next slice to drop, [from, to) of segment s held
// open (release it), or nil when the dropper has caught up with the head.
// It moves *seq past segments dropped whole or gone (deleted by retention),
// resetting *off.
func (l *Log) nextDrop(seq *uint64, off *int64) (s *segment, from, to int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for *seq+1 < l.headSeq || (*seq+1 == l.headSeq && l.headPos > *off) {
		s = l.segs[*seq]
		if s == nil || s.removed || !s.sealed || *off >= s.size {
			*seq, *off = *seq+1, 0
			continue
		}
		end := s.size
		if *seq+1 == l.headSeq {
			// One segment behind the head: up to the head's offset, in
			// whole slices.
			end = min(end, l.headPos/dropSlice*dropSlice)
		}
		if end <= *off {
			return nil, 0, 0
		}
		s.refs++
		return s, *off, min(*off+dropSlice, end)
	}
	return nil, 0, 0
}
