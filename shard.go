package millrace

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/millrace/millrace/internal/commitlog"
	"github.com/millrace/millrace/internal/manifest"
)

// shard owns one commit log and the bookkeeping that ties its segments to
// partitions: how many partitions still have records in each segment (the
// deletion rule) and each partition's span in segments not yet recorded in
// the manifest.
type shard struct {
	id int32
	l  *Log
	// log is the shard's commit log; replaced (under every partition's
	// append lock) when a failed log is reopened.
	log atomic.Pointer[commitlog.Log]
	// recovering is set while a goroutine is reopening a failed log.
	recovering atomic.Bool
	mu         sync.Mutex // guards refs and spans
	// refs counts, per segment, the partitions whose index has entries in
	// it. A sealed segment with no reference is deleted.
	refs map[uint64]int
	// spans holds per segment, per partition id, the span not yet written
	// to the manifest; a segment's spans are written when it is sealed.
	spans map[uint64]map[int64]*manifest.Span
	// hot lists, per segment without a trusted index file yet, the
	// partitions holding entries of it in memory: once the index file is
	// written (onIndexed) they drop them.
	hot map[uint64][]*partition
}

// cl returns the shard's current commit log.
func (s *shard) cl() *commitlog.Log { return s.log.Load() }

func newShard(l *Log, id int32) *shard {
	return &shard{id: id, l: l, refs: make(map[uint64]int), spans: make(map[uint64]map[int64]*manifest.Span),
		hot: make(map[uint64][]*partition)}
}

// noteEntry records that partition p stored a batch at e (from an append
// or a replay): it extends p's span in that segment. If the batch started
// a run of p's index (newRun), p refers to the segment anew: counted in
// refs, since its earlier run there may have been trimmed and released
// (a Truncate to the high watermark, then an append to the same segment),
// and, with hot (the entry kept in memory), listed for onIndexed.
func (s *shard) noteEntry(p *partition, e indexEntry, records int64, newRun, hot bool) {
	s.mu.Lock()
	m := s.spans[e.seq]
	if m == nil {
		m = make(map[int64]*manifest.Span)
		s.spans[e.seq] = m
	}
	sp := m[p.id]
	if sp == nil {
		sp = &manifest.Span{Shard: s.id, Seq: e.seq, PartitionID: p.id, FirstOffset: e.base, FirstTimestamp: e.firstTs, MaxTimestamp: e.maxTs}
		m[p.id] = sp
	}
	if newRun {
		s.refs[e.seq]++
		if hot {
			s.hot[e.seq] = append(s.hot[e.seq], p)
		}
	}
	sp.LastOffset = e.last
	sp.MaxTimestamp = max(sp.MaxTimestamp, e.maxTs)
	sp.Bytes += int64(e.size)
	sp.Records += records
	sp.Batches++
	s.mu.Unlock()
	if newRun && hot {
		// The segment may have been sealed and indexed between the
		// entry's append and this note: then nobody would tell p.
		if cl := s.cl(); cl != nil && cl.Indexed(e.seq) {
			s.onIndexed(e.seq)
		}
	}
}

// onIndexed runs in the commit log's index writer once sealed segment seq
// has a trusted index file: the partitions holding entries of it in memory
// drop them (their runs turn cold).
func (s *shard) onIndexed(seq uint64) {
	s.mu.Lock()
	parts := s.hot[seq]
	delete(s.hot, seq)
	s.mu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		p.entries.makeCold(seq)
		p.mu.Unlock()
	}
}

// release drops one reference of a partition to each listed segment.
func (s *shard) release(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seq := range seqs {
		if s.refs[seq] > 0 {
			s.refs[seq]--
		}
	}
}

// forget removes a deleted partition's pending spans.
func (s *shard) forget(partitionID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.spans {
		delete(m, partitionID)
	}
}

// takeSpans removes and returns the pending spans of a segment.
func (s *shard) takeSpans(seq uint64) []manifest.Span {
	s.mu.Lock()
	m := s.spans[seq]
	delete(s.spans, seq)
	s.mu.Unlock()
	out := make([]manifest.Span, 0, len(m))
	for _, sp := range m {
		out = append(out, *sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartitionID < out[j].PartitionID })
	return out
}

// onSeal runs in the commit log's flusher when a segment is sealed: it
// commits the segment and its partition spans to the manifest, one
// transaction per segment.
func (s *shard) onSeal(info commitlog.SegmentInfo) error {
	spans := s.takeSpans(info.Seq)
	return s.recordSegment(info, spans)
}

func (s *shard) recordSegment(info commitlog.SegmentInfo, spans []manifest.Span) error {
	next := make(map[int64]int64, len(spans))
	for _, sp := range spans {
		next[sp.PartitionID] = sp.LastOffset + 1
	}
	seg := manifest.Segment{Shard: s.id, Seq: info.Seq, Sealed: true, CreatedAt: info.CreatedAt, SealedAt: s.l.now(),
		Bytes: info.Size, FirstIndex: info.FirstIndex, LastIndex: info.LastIndex}
	if err := s.l.man.SealSegment(seg, spans, next); err != nil {
		return fmt.Errorf("record segment %d of shard %d in the manifest: %w", info.Seq, s.id, err)
	}
	return nil
}

// unreferenced returns the sealed segments no partition has records in.
func (s *shard) unreferenced() []uint64 {
	active := s.cl().ActiveSeq()
	var out []uint64
	segs := s.cl().Segments()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range segs {
		if seg.Sealed && seg.Seq != active && s.refs[seg.Seq] == 0 && s.spans[seg.Seq] == nil {
			out = append(out, seg.Seq)
		}
	}
	return out
}

// onDurable runs in the commit log's flusher: each mark carries a partition
// and the offset below which it is now durable.
func onDurable(marks []commitlog.Mark) {
	for _, m := range marks {
		p, ok := m.Owner.(*partition)
		if !ok {
			continue
		}
		if m.Value > p.durable.Load() {
			p.durable.Store(m.Value)
		}
		// A waiter sets waiting before it reads durable (both atomic), so
		// either it sees the new watermark or this sees it waiting.
		if p.waiting.Load() {
			p.mu.Lock()
			p.wakeLocked()
			p.mu.Unlock()
		}
	}
}
