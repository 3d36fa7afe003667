package commitlog

// blockSize is the size of the buffers that appends frame entries into.
// Successive chunks (group commits) share a block until it is full, so a
// chunk never grows by reallocation and a small commit pins no buffer of
// its own. Before blocks, a chunk had a buffer of its own sized by a guess
// of the next flush's bytes: when the flusher fell behind, appends grew it
// by copying (under the shard lock, into fresh memory, 12 % of the
// server's CPU at 800,000 records/s with acks=1), and each small commit
// kept a fitted copy for the tail cache (another 2 %; BENCHMARKS.md,
// "Fourth pass").
const blockSize = 2 << 20

// maxFreeBlocks bounds the blocks kept for reuse once no chunk holds them,
// with the tail cache's size in blocks below it (freeBlocksLimit): after a
// flusher stall, appends fill new blocks while the tail cache still holds
// its own, and when the stall ends the cache evicts that many at once.
// Keeping as many as the cache holds lets the next stall reuse them (the
// in-process produce benchmark allocated 94–124 MB of blocks for 3 M
// records with 8 kept, 75 MB, its working set, with 16). A fresh block is
// fresh memory, and on the project's VM the first touch of each page
// costs 11–17 µs (bench/pagefault).
const maxFreeBlocks = 16

// freeBlocksLimit is how many free blocks this log keeps.
func (l *Log) freeBlocksLimit() int {
	return min(max(int(l.opts.TailCacheBytes/blockSize), 2), maxFreeBlocks)
}

// block is one buffer of framed entries. mem's length is its size; used
// bytes have been framed into it. Guarded by Log.mu.
type block struct {
	mem  []byte
	used int
	// refs counts the chunks in Log.mem that hold a part of mem, plus one
	// while it is the block appends go to (Log.blk). At zero it is free.
	refs int
}

// fitsLocked reports whether an entry of size bytes fits in the rest of
// the current block.
func (l *Log) fitsLocked(size int) bool {
	return l.blk != nil && l.blk.used+size <= len(l.blk.mem)
}

// nextBlockLocked makes appends go to a new block with room for at least
// need bytes: a free one if it is large enough, else a new one.
func (l *Log) nextBlockLocked(need int) {
	if l.blk != nil {
		l.unrefLocked(l.blk)
	}
	if n := len(l.free); n > 0 && need <= blockSize {
		l.blk = l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
	} else {
		l.blk = &block{mem: make([]byte, max(blockSize, need))}
	}
	l.blk.used, l.blk.refs = 0, 1
}

// unrefLocked drops one hold on b and keeps it for reuse when none is
// left, if it is of the standard size and the free list has room.
func (l *Log) unrefLocked(b *block) {
	b.refs--
	if b.refs == 0 && len(b.mem) == blockSize && len(l.free) < l.freeBlocksLimit() {
		l.free = append(l.free, b)
	}
}
