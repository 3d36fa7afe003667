package millrace

import (
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
	runMaxTs int64  // max of maxTs over this and every earlier entry: non-decreasing, so searchable
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

// addEntryLocked appends an index entry for a batch just stored.
func (p *partition) addEntryLocked(e indexEntry) {
	e.runMaxTs = e.maxTs
	if n := p.entries.len(); n > 0 && p.entries.at(n-1).runMaxTs > e.runMaxTs {
		e.runMaxTs = p.entries.at(n - 1).runMaxTs
	}
	p.entries.push(e)
	p.next = e.last + 1
}

// findLocked returns the index of the first entry whose last offset is at
// least off.
func (p *partition) findLocked(off int64) int {
	return p.entries.search(func(e *indexEntry) bool { return e.last >= off })
}

// findTimeLocked returns the index of the first entry holding a record with
// timestamp at least ts.
func (p *partition) findTimeLocked(ts int64) int {
	return p.entries.search(func(e *indexEntry) bool { return e.runMaxTs >= ts })
}

// trimLocked drops index entries wholly below logStart and returns the
// segments this partition no longer has any entry in. Entries are in log
// order, so their segments are non-decreasing.
func (p *partition) trimLocked() (released []uint64) {
	n := p.findLocked(p.logStart)
	if n == 0 {
		return nil
	}
	for i := 0; i < n; i++ {
		if seq := p.entries.at(i).seq; i == 0 || p.entries.at(i-1).seq != seq {
			released = append(released, seq)
		}
	}
	if n < p.entries.len() && released[len(released)-1] == p.entries.at(n).seq {
		released = released[:len(released)-1]
	}
	p.entries.dropFront(n)
	return released
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
		FirstTimestamp: -1, LastTimestamp: -1, Batches: p.entries.len(),
	}
	for _, s := range p.entries.segments() {
		pi.Bytes += s.span.Bytes
		pi.Segments++
	}
	if n := p.entries.len(); n > 0 {
		pi.FirstTimestamp = p.entries.at(0).firstTs
		pi.LastTimestamp = p.entries.at(n - 1).runMaxTs
	}
	return pi
}
