package millrace

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/millrace/millrace/internal/producer"
)

// indexEntry locates one stored batch: its offsets, its time span and its
// place in the shard's commit log.
type indexEntry struct {
	base     int64  // first offset
	last     int64  // last offset
	firstTs  int64  // batch's first timestamp
	maxTs    int64  // batch's max timestamp
	runMaxTs int64  // max of maxTs over this and every earlier entry of its run (segment): non-decreasing, so searchable
	seq      uint64 // commit-log segment
	pos      int64  // frame position in the segment
	size     int32  // framed size
}

// partition is one partition's in-memory state. A partition costs this
// struct and its index: no file and no goroutine.
type partition struct {
	id    int64 // global, from the manifest; the commit-log stream id
	topic *topic
	index int32
	shard *shard

	// appendMu serializes appends, so that offsets are assigned in the
	// order batches enter the commit log. It also guards producers.
	appendMu  sync.Mutex
	producers producer.Table // idempotent producers' recent batches

	mu       sync.RWMutex // guards the fields below
	entries  entryIndex   // ascending offsets; the first entry may start below logStart
	next     int64        // high watermark: the next offset to assign
	logStart int64
	notify   chan struct{} // closed when next or durable moves; nil if nobody waits
	deleted  bool

	durable atomic.Int64 // durable watermark: offsets below it are fsynced
	// waiting is set while notify is non-nil, so that the flusher, which
	// moves durable for every batch, takes mu only when a reader waits.
	waiting atomic.Bool
	// gen counts reopenings of the shard's storage after a failure; an
	// append's durability is only judged within its generation.
	gen atomic.Uint64
}

// waitChan returns a channel closed at the next watermark move. Take it
// before reading the watermarks, so that a move in between is not missed.
func (p *partition) waitChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.notify == nil {
		p.notify = make(chan struct{})
		p.waiting.Store(true)
	}
	return p.notify
}

// wakeLocked wakes readers waiting for new data. The caller holds p.mu.
func (p *partition) wakeLocked() {
	if p.notify != nil {
		close(p.notify)
		p.notify = nil
		p.waiting.Store(false)
	}
}

// addEntryLocked appends an index entry for a batch just stored or
// replayed; hot keeps it in memory (see entryIndex). It reports whether
// the entry started a run (see entryIndex.add).
func (p *partition) addEntryLocked(e indexEntry, hot bool) (newRun bool) {
	p.next = e.last + 1
	return p.entries.add(e, hot)
}

// runEntriesLocked returns the entries of run ri and the first of them
// not below the run's first offset: the run's own if it is hot, or those of
// cold if that is the run's segment read back. ok is false if the run is
// cold and cold is not its segment: the caller reads the segment's entries
// (coldCache.get) without the lock, and tries again.
func (p *partition) runEntriesLocked(ri int, cold *coldSegment) (b *entryBlocks, from int, ok bool, err error) {
	r := &p.entries.runs[ri]
	if r.hot != nil {
		return r.hot, 0, true, nil
	}
	if cold == nil || cold.log != p.shard.cl() || cold.seq != r.seq {
		return nil, 0, false, nil
	}
	b = cold.parts[p.id]
	if b == nil || b.len() == 0 || b.at(b.len()-1).last < r.span.LastOffset {
		return nil, 0, false, fmt.Errorf("the index of segment %d holds fewer batches of the partition than its summary (through offset %d)", r.seq, r.span.LastOffset)
	}
	// The segment may hold batches replay left out (below the log start
	// then, or already indexed): they are not the run's.
	from = b.search(0, func(e *indexEntry) bool { return e.last >= r.span.FirstOffset })
	return b, from, true, nil
}

// trimLocked drops index entries wholly below logStart and returns the
// segments this partition no longer has any entry in. cold, if it is the
// segment of the cold run logStart falls inside, lets that run be trimmed
// exactly (see entryIndex.trimBelow).
func (p *partition) trimLocked(cold *coldSegment) (released []uint64) {
	var list *entryBlocks
	if ri := p.entries.findRun(p.logStart); ri < len(p.entries.runs) && cold != nil {
		if b, _, ok, err := p.runEntriesLocked(ri, cold); ok && err == nil && p.entries.runs[ri].hot == nil {
			list = b
		}
	}
	return p.entries.trimBelow(p.logStart, list)
}

// coldRunInsideLocked returns the segment of the cold run offset falls
// strictly inside (not at its first batch), unless cold is that segment;
// else 0.
func (p *partition) coldRunInsideLocked(offset int64, cold *coldSegment) uint64 {
	ri := p.entries.findRun(offset)
	if ri == len(p.entries.runs) {
		return 0
	}
	r := &p.entries.runs[ri]
	if r.hot != nil || r.span.FirstOffset >= offset || (cold != nil && cold.log == p.shard.cl() && cold.seq == r.seq) {
		return 0
	}
	return r.seq
}

// segmentsLocked lists the segments this partition has entries in, once
// each, in order.
func (p *partition) segmentsLocked() []uint64 {
	var out []uint64
	for _, s := range p.entries.segments() {
		out = append(out, s.seq)
	}
	return out
}

// PartitionInfo describes a partition's state.
type PartitionInfo struct {
	Topic          string
	Partition      int32
	Shard          int32
	LogStartOffset int64
	HighWatermark  int64 // next offset to be assigned; readable below it
	DurableOffset  int64 // fsynced below it
	Bytes          int64 // stored bytes of retained batches
	Segments       int   // commit-log segments holding its batches
	FirstTimestamp int64 // ms since the epoch; -1 if empty
	LastTimestamp  int64 // max timestamp; -1 if empty
	Batches        int
}

func (p *partition) info() PartitionInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pi := PartitionInfo{
		Topic: p.topic.name(), Partition: p.index, Shard: p.shard.id,
		LogStartOffset: p.logStart, HighWatermark: p.next, DurableOffset: min(p.durable.Load(), p.next),
		FirstTimestamp: p.entries.firstTimestamp(), LastTimestamp: p.entries.lastMaxTimestamp(), Batches: p.entries.len(),
	}
	for _, s := range p.entries.segments() {
		pi.Bytes += s.span.Bytes
		pi.Segments++
	}
	return pi
}
