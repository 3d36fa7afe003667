package millrace

import (
	"math"
	"sort"

	"github.com/millrace/millrace/internal/retention"
)

// indexBlock is the number of entries in a full block of a partition's
// index: 256 KiB.
const indexBlock = 4096

// entryIndex is a partition's index: what it stores, one run per commit-log
// segment, in offset order. Every run keeps a summary in memory (its count,
// offsets, timestamps and bytes), so that retention, describing a
// partition and finding the run that holds an offset or a time cost one
// step per segment, not one per batch. A run's entries themselves (one per
// stored batch) are kept in memory only while the run is hot: from the
// batch's append until the segment is sealed and its index file written
// (shard.onIndexed), or for a segment Open had to scan until its index
// file is rebuilt. A cold run's entries are read back from the segment's
// index file when a read needs them (coldCache). So the index costs memory
// per retained segment, not per retained batch: before, at 64 bytes a
// batch, producers sending 32,000 small batches a second grew it by 7 GB
// an hour. The zero value is an empty index. Callers hold the partition's
// lock.
type entryIndex struct {
	runs []segRun
	n    int // entries, hot and cold
	hot  int // entries held in memory
}

// segRun is a partition's batches in one commit-log segment.
type segRun struct {
	seq  uint64
	n    int
	span retention.Span // first entry's base offset, last entry's last offset, largest timestamp, stored bytes
	// firstTs is the first entry's first timestamp.
	firstTs int64
	// endMaxTs is the largest timestamp of this run and every earlier one:
	// non-decreasing along the runs, so searchable.
	endMaxTs int64
	// hot holds the entries while they are in memory; nil once cold.
	hot *entryBlocks
}

// len returns the number of entries.
func (x *entryIndex) len() int { return x.n }

// hotLen returns the number of entries held in memory.
func (x *entryIndex) hotLen() int { return x.hot }

// segments returns the runs, in order. The slice is the index's own: read
// it, do not keep it past the partition's lock.
func (x *entryIndex) segments() []segRun { return x.runs }

// add appends e, an entry of a batch just stored or replayed, as the last
// entry, in memory if hot (else only counted in its run's summary: its
// segment has a trusted index file to read it back from). An entry of the
// last run's segment joins that run; in a cold run it stays cold. It
// reports whether e started a run: the index then refers to e's segment
// anew (the shard counts that reference; trimBelow releases it).
func (x *entryIndex) add(e indexEntry, hot bool) (newRun bool) {
	k := len(x.runs) - 1
	if newRun = k < 0 || x.runs[k].seq != e.seq; newRun {
		prev := int64(math.MinInt64)
		if k >= 0 {
			prev = x.runs[k].endMaxTs
		}
		r := segRun{seq: e.seq, firstTs: e.firstTs, endMaxTs: prev,
			span: retention.Span{FirstOffset: e.base, MaxTimestamp: e.maxTs}}
		if hot {
			r.hot = &entryBlocks{}
		}
		x.runs = append(x.runs, r)
		k++
	}
	r := &x.runs[k]
	r.n++
	r.span.LastOffset = e.last
	r.span.MaxTimestamp = max(r.span.MaxTimestamp, e.maxTs)
	r.span.Bytes += int64(e.size)
	r.endMaxTs = max(r.endMaxTs, e.maxTs)
	x.n++
	if r.hot != nil {
		e.runMaxTs = e.maxTs
		if m := r.hot.len(); m > 0 {
			e.runMaxTs = max(e.runMaxTs, r.hot.at(m-1).runMaxTs)
		}
		r.hot.push(e)
		x.hot++
	}
	return newRun
}

// makeCold drops the in-memory entries of the run in segment seq, if there
// is one and it is hot, and returns how many it dropped. The caller makes
// sure seq has a trusted index file.
func (x *entryIndex) makeCold(seq uint64) int {
	i := sort.Search(len(x.runs), func(i int) bool { return x.runs[i].seq >= seq })
	if i == len(x.runs) || x.runs[i].seq != seq || x.runs[i].hot == nil {
		return 0
	}
	n := x.runs[i].hot.len()
	x.runs[i].hot = nil
	x.hot -= n
	return n
}

// findRun returns the index of the first run whose last offset is at least
// off, or len(runs).
func (x *entryIndex) findRun(off int64) int {
	return sort.Search(len(x.runs), func(i int) bool { return x.runs[i].span.LastOffset >= off })
}

// findRunTime returns the index of the first run holding a batch whose max
// timestamp is at least ts, or len(runs).
func (x *entryIndex) findRunTime(ts int64) int {
	return sort.Search(len(x.runs), func(i int) bool { return x.runs[i].endMaxTs >= ts })
}

// firstTimestamp and lastMaxTimestamp return the first entry's first
// timestamp and the largest timestamp; -1 when empty.
func (x *entryIndex) firstTimestamp() int64 {
	if x.n == 0 {
		return -1
	}
	return x.runs[0].firstTs
}

func (x *entryIndex) lastMaxTimestamp() int64 {
	if x.n == 0 {
		return -1
	}
	return x.runs[len(x.runs)-1].endMaxTs
}

// lastOffset returns the last entry's last offset; -1 when empty.
func (x *entryIndex) lastOffset() int64 {
	if x.n == 0 {
		return -1
	}
	return x.runs[len(x.runs)-1].span.LastOffset
}

// trimBelow drops the entries wholly below logStart and returns the
// segments the index no longer has any entry in. A hot run the new start
// falls inside is trimmed exactly. A cold one is trimmed exactly if
// coldList holds its entries read back (its partition's list of its
// segment; Truncate reads it first); without them its summary stays whole,
// counting the batches below logStart (bytes, batches, timestamps) until
// the segment goes, which errs toward keeping data longer, never less.
func (x *entryIndex) trimBelow(logStart int64, coldList *entryBlocks) (released []uint64) {
	i := x.findRun(logStart)
	for _, r := range x.runs[:i] {
		released = append(released, r.seq)
		x.n -= r.n
		if r.hot != nil {
			x.hot -= r.hot.len()
		}
	}
	if i > 0 {
		clear(x.runs[:i])
		x.runs = append(x.runs[:0], x.runs[i:]...)
	}
	if x.n <= 0 {
		*x = entryIndex{}
		return released
	}
	if r := &x.runs[0]; r.span.FirstOffset < logStart {
		switch {
		case r.hot != nil:
			if k := r.hot.search(0, func(e *indexEntry) bool { return e.last >= logStart }); k > 0 {
				r.hot.dropFront(k)
				x.hot -= k
				// runMaxTs runs from the list's first entry: recount it.
				m := int64(math.MinInt64)
				for j := range r.hot.len() {
					e := r.hot.at(j)
					m = max(m, e.maxTs)
					e.runMaxTs = m
				}
				x.n -= r.n - r.hot.len()
				r.summarize(r.hot, 0)
			}
		case coldList != nil:
			from := coldList.search(0, func(e *indexEntry) bool { return e.last >= logStart })
			n := r.n
			r.summarize(coldList, from)
			x.n -= n - r.n
		}
	}
	prev := int64(math.MinInt64)
	for j := range x.runs {
		x.runs[j].endMaxTs = max(prev, x.runs[j].span.MaxTimestamp)
		prev = x.runs[j].endMaxTs
	}
	return released
}

// summarize sets r's summary from the entries of list from index from up
// to r's last offset: its count, first offset and timestamp, largest
// timestamp and bytes.
func (r *segRun) summarize(list *entryBlocks, from int) {
	first := list.at(from)
	r.n, r.span.FirstOffset, r.firstTs, r.span.MaxTimestamp, r.span.Bytes = 0, first.base, first.firstTs, first.maxTs, 0
	for j := from; j < list.len() && list.at(j).last <= r.span.LastOffset; j++ {
		e := list.at(j)
		r.n++
		r.span.MaxTimestamp = max(r.span.MaxTimestamp, e.maxTs)
		r.span.Bytes += int64(e.size)
	}
}

// entryBlocks is a list of index entries kept in blocks of at most
// indexBlock entries, so that appending never copies more than one block.
// A single slice grown by append copied the whole list at each growth,
// under the partition's lock: on the project's machine an append to a
// 200,000-entry slice took 17 ms, and to a 500,000-entry one 286 ms
// (mostly page faults on the new array), and every produce and fetch of
// the partition waited behind it (BENCHMARKS.md, "Third pass"). The first
// block grows by doubling up to indexBlock, so a list of few entries costs
// only what it holds; later ones are made whole. The zero value is empty.
type entryBlocks struct {
	blocks [][]indexEntry // all full (indexBlock entries) but the last
	skip   int            // entries dropped from the front of blocks[0]
	n      int            // live entries
}

// len returns the number of entries.
func (x *entryBlocks) len() int { return x.n }

// at returns entry i, 0 <= i < len().
func (x *entryBlocks) at(i int) *indexEntry {
	j := x.skip + i
	return &x.blocks[j/indexBlock][j%indexBlock]
}

// push appends e.
func (x *entryBlocks) push(e indexEntry) {
	k := len(x.blocks) - 1
	if k < 0 || len(x.blocks[k]) == indexBlock {
		var b []indexEntry
		if k >= 0 {
			// The list already holds a full block: the next one is made
			// whole at once rather than by doublings.
			b = make([]indexEntry, 0, indexBlock)
		}
		x.blocks = append(x.blocks, b)
		k++
	}
	b := x.blocks[k]
	if len(b) == cap(b) {
		nb := make([]indexEntry, len(b), min(max(2*cap(b), 8), indexBlock))
		copy(nb, b)
		b = nb
	}
	x.blocks[k] = append(b, e)
	x.n++
}

// dropFront removes the first k entries, releasing the blocks they emptied.
// When what is left fits in the first block and is no more than what was
// dropped from it, it moves to a block of its own size, so that a trimmed
// list holds about what it keeps (the copy is paid for by the drops).
func (x *entryBlocks) dropFront(k int) {
	x.skip += k
	x.n -= k
	if x.n <= 0 {
		*x = entryBlocks{}
		return
	}
	if drop := x.skip / indexBlock; drop > 0 {
		clear(x.blocks[:drop])
		x.blocks = x.blocks[drop:]
		x.skip -= drop * indexBlock
	}
	if len(x.blocks) == 1 && x.skip > 0 && x.skip >= x.n {
		b := make([]indexEntry, x.n, max(8, x.n))
		copy(b, x.blocks[0][x.skip:])
		x.blocks[0], x.skip = b, 0
	}
}

// fit moves a last block that is not full to one of its own size, so that
// a list that will not grow holds no spare capacity, and returns the
// entries of capacity it holds.
func (x *entryBlocks) fit() int64 {
	var held int64
	for i, b := range x.blocks {
		if len(b) < cap(b) {
			x.blocks[i] = append([]indexEntry(nil), b...)
		}
		held += int64(cap(x.blocks[i]))
	}
	return held
}

// search returns the smallest i in [from, len()) for which f(entry i) is
// true, or len() if none is; f must be false then true along the list.
func (x *entryBlocks) search(from int, f func(*indexEntry) bool) int {
	return from + sort.Search(x.n-from, func(i int) bool { return f(x.at(from + i)) })
}
