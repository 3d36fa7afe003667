package millrace

import (
	"container/list"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/millrace/millrace/internal/batch"
	"github.com/millrace/millrace/internal/commitlog"
)

// coldSegment is one sealed segment's index entries read back from its
// index file, by partition (commit-log stream) id: what the cold runs of
// every partition with batches in the segment need. Immutable once built.
type coldSegment struct {
	log   *commitlog.Log // the shard's commit log it was read from
	seq   uint64
	parts map[int64]*entryBlocks
	bytes int64 // memory held by the entries
}

// coldCache holds the segments read back most recently, up to a byte
// bound, so that a consumer reading through a cold segment, or many
// partitions' consumers reading the same one, read its index file once.
// The newest segment is kept even past the bound, so that one larger than
// the bound is still read once per pass, not once per fetch. Concurrent
// gets of one segment share a single read. Segments being read back are
// not counted until they are in: readers reading different large segments
// at once can hold more than the bound for that while.
type coldCache struct {
	max   int64
	loads atomic.Int64 // index files read back (a metric)

	mu    sync.Mutex // guards the fields below
	items map[coldKey]*coldItem
	lru   list.List // of *coldItem, most recent first; loaded items only
	bytes int64
}

// coldKey names a segment of one commit log: a shard reopened after a
// storage failure has a new log, whose segments are other entries (a cut
// may even reuse segment numbers).
type coldKey struct {
	log *commitlog.Log
	seq uint64
}

type coldItem struct {
	key  coldKey
	done chan struct{} // closed once seg or err is set
	seg  *coldSegment
	err  error
	elem *list.Element
}

func newColdCache(maxBytes int64) *coldCache {
	return &coldCache{max: maxBytes, items: make(map[coldKey]*coldItem)}
}

// get returns sealed segment seq of shard s, read back from its index file
// unless the cache holds it.
func (c *coldCache) get(s *shard, seq uint64) (*coldSegment, error) {
	cl := s.cl()
	k := coldKey{cl, seq}
	c.mu.Lock()
	if it := c.items[k]; it != nil {
		if it.elem != nil {
			c.lru.MoveToFront(it.elem)
		}
		c.mu.Unlock()
		<-it.done
		return it.seg, it.err
	}
	it := &coldItem{key: k, done: make(chan struct{})}
	c.items[k] = it
	c.mu.Unlock()

	it.seg, it.err = loadColdSegment(s.id, cl, seq)
	c.loads.Add(1)

	c.mu.Lock()
	close(it.done)
	if it.err != nil || c.items[k] != it {
		if c.items[k] == it {
			delete(c.items, k)
		}
		c.mu.Unlock()
		return it.seg, it.err
	}
	it.elem = c.lru.PushFront(it)
	c.bytes += it.seg.bytes
	for c.bytes > c.max && c.lru.Len() > 1 {
		old := c.lru.Back().Value.(*coldItem)
		c.removeLocked(old)
	}
	c.mu.Unlock()
	return it.seg, nil
}

func (c *coldCache) removeLocked(it *coldItem) {
	if it.elem != nil {
		c.lru.Remove(it.elem)
		c.bytes -= it.seg.bytes
		it.elem = nil
	}
	delete(c.items, it.key)
}

// drop forgets segment seq of shard's commit log cl (deleted by
// retention).
func (c *coldCache) drop(cl *commitlog.Log, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it := c.items[coldKey{cl, seq}]; it != nil {
		c.removeLocked(it)
	}
}

// dropLog forgets every segment of commit log cl (a shard's failed log,
// replaced by a reopened one: its segments are never asked for again).
func (c *coldCache) dropLog(cl *commitlog.Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, it := range c.items {
		if k.log == cl {
			c.removeLocked(it)
		}
	}
}

// held returns the bytes the cache holds and its segment count.
func (c *coldCache) held() (bytes int64, segments int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, c.lru.Len()
}

// loadColdSegment reads segment seq's entries back (from its index file,
// or the segment if that cannot be trusted), grouped by partition. It
// keeps, per partition, only batches above the one before, as replay does
// (a batch stored twice is indexed once).
func loadColdSegment(shard int32, cl *commitlog.Log, seq uint64) (*coldSegment, error) {
	cs := &coldSegment{log: cl, seq: seq, parts: make(map[int64]*entryBlocks)}
	err := cl.SegmentEntries(seq, func(e commitlog.EntryInfo, prefix []byte) error {
		h, err := batch.ReadHeader(prefix)
		if err != nil {
			return fmt.Errorf("entry %d at %d: %w", e.Index, e.Pos, err)
		}
		b := cs.parts[int64(e.Stream)]
		if b == nil {
			b = &entryBlocks{}
			cs.parts[int64(e.Stream)] = b
		}
		ie := indexEntry{base: h.BaseOffset, last: h.LastOffset(), firstTs: h.FirstTimestamp, maxTs: h.MaxTimestamp,
			runMaxTs: h.MaxTimestamp, seq: seq, pos: e.Pos, size: e.Size}
		if n := b.len(); n > 0 {
			prev := b.at(n - 1)
			if ie.base <= prev.last {
				return nil
			}
			ie.runMaxTs = max(ie.runMaxTs, prev.runMaxTs)
		}
		b.push(ie)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read back the index of segment %d of shard %d: %w", seq, shard, err)
	}
	for _, b := range cs.parts {
		cs.bytes += b.fit() * int64(unsafe.Sizeof(indexEntry{}))
	}
	return cs, nil
}
