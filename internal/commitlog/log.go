package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/vfs"
)

// ErrOverloaded is matched (errors.Is) by the error Append returns when the
// memory for data not yet persisted is at its bound. The error is an
// *OverloadError carrying a retry-after hint.
var ErrOverloaded = errors.New("commitlog: overloaded")

// ErrClosed is returned by operations on a closed log.
var ErrClosed = errors.New("commitlog: closed")

// ErrSegmentGone is returned for a segment that no longer exists (deleted
// by retention) or is not sealed yet.
var ErrSegmentGone = errors.New("commitlog: segment not found")

// OverloadError is returned by Append at the memory bound.
type OverloadError struct {
	Pending    int64         // bytes waiting to be persisted
	Limit      int64         // the bound
	RetryAfter time.Duration // when a retry is likely to be accepted
}

func (e *OverloadError) Error() string {
	return fmt.Sprintf("commitlog: overloaded: %d bytes pending persistence, bound %d; retry after %v", e.Pending, e.Limit, e.RetryAfter)
}

// Is makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadError) Is(target error) bool { return target == ErrOverloaded }

// Mark is an opaque value the caller attaches to an append; once the entry
// is durable the flusher hands it back through Options.OnDurable, in append
// order. Owner is typically the caller's partition and Value an offset.
type Mark struct {
	Owner any
	Value int64
}

// SegmentInfo describes a segment.
type SegmentInfo struct {
	Seq        uint64
	Size       int64 // bytes of entries (not of preallocated space)
	Sealed     bool
	CreatedAt  time.Time
	FirstIndex uint64 // 0 if the segment has no entry
	LastIndex  uint64
}

// Options configures a Log. Zero values take the defaults noted.
type Options struct {
	FS  vfs.FS // default vfs.OS
	Dir string // the shard's directory; created if missing

	SegmentBytes    int64         // roll size; default 256 MiB
	SegmentAge      time.Duration // roll an active segment older than this; 0 = never
	Sync            SyncPolicy
	MaxPendingBytes int64 // bound on appended but not yet persisted bytes; default 64 MiB
	TailCacheBytes  int64 // written entries kept in memory for readers; default 32 MiB; -1 = none
	NoPreallocate   bool  // do not fallocate new segments
	// UnwaitedSyncDelay, under SyncAlways, lets the flusher hold an fsync
	// that no appender waits for (nobody has called Wait or Done on an
	// entry it covers: acks=1 producers) for up to this long, so that one
	// fsync covers more writes; a Wait or Done meanwhile ends the hold. 0:
	// fsync as soon as written.
	UnwaitedSyncDelay time.Duration
	// DropSealedCache keeps the segments' page cache at about one
	// segment's worth: a goroutine drops the cached pages of the segment
	// before the one being written up to the offset being written
	// (fadvise DONTNEED, a MiB at a time as the writes advance), and every
	// earlier segment whole, so that the pages freed are the next ones
	// written. Where a page's first touch is dear (a VM whose free memory
	// goes back to the host) that saves much of the cost of writing; a
	// consumer more than a segment behind then reads from the disk.
	DropSealedCache bool
	// IndexPrefix, if above 0, has each sealed segment get an index file
	// holding every entry's frame fields and the first IndexPrefix bytes
	// of its payload (at most 65,535); Open then replays a sealed segment
	// from it, with each payload cut to those bytes, instead of reading
	// the segment (segindex.go). Its replay function must need no more.
	IndexPrefix int
	// liveIndexBytes bounds a segment's index records kept by the flusher
	// (0: maxLiveIndexBytes); tests lower it.
	liveIndexBytes int
	// FlusherNice, if not 0, runs the flusher goroutine on an OS thread of
	// its own with this nice value (Linux, -20 to 19): negative favours
	// the writes and fsyncs that durable acknowledgements wait for when
	// the CPU is contended. A value the process may not set is logged and
	// ignored.
	FlusherNice int
	// DropCache makes Open drop each segment's cached pages before
	// scanning it, so that it recovers what is on the disk, not what a
	// failed fsync left in the page cache. Used when reopening a log
	// after a write or fsync error.
	DropCache bool
	Term      uint64 // term stamped on new entries; default 1

	// OnDurable is called by the flusher goroutine with the marks of
	// entries that just became durable, in append order. It must not call
	// back into the Log's Append, and must not keep marks: the slice is
	// reused once it returns.
	OnDurable func(marks []Mark)
	// OnFlush is called by the flusher goroutine after each group commit:
	// what it made durable (or failed to) and how long the writes and the
	// fsync took. It must be quick.
	OnFlush func(FlushInfo)
	// OnSeal is called by the flusher goroutine after a segment is sealed
	// (synced and cut to size), before the next segment is written to. An
	// error fails the log as a write error would.
	OnSeal func(SegmentInfo) error
	// OnIndexed is called by the index writer goroutine once sealed
	// segment seq has a trusted index file on disk (Indexed(seq) is true
	// from then on), so that a caller may drop its own in-memory copy of
	// the segment's entries and read them back with SegmentEntries when
	// needed. It must not wait for the index writer (WaitIndexed).
	OnIndexed func(seq uint64)

	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 256 << 20
	}
	if o.liveIndexBytes <= 0 {
		o.liveIndexBytes = maxLiveIndexBytes
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.TailCacheBytes == 0 {
		o.TailCacheBytes = 32 << 20
	}
	if o.Term == 0 {
		o.Term = 1
	}
	o.IndexPrefix = min(max(o.IndexPrefix, 0), 1<<16-1)
	if o.Sync.Mode == SyncInterval && o.Sync.Interval <= 0 {
		o.Sync.Interval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// FlushInfo describes one group commit.
type FlushInfo struct {
	Appends int           // entries made durable (or failed) together
	Bytes   int64         // their framed bytes
	Write   time.Duration // time in write calls
	Sync    time.Duration // time in the fsync (0 if none was issued)
	Err     error         // the write or fsync error, if it failed
}

// chunk is a run of framed entries, contiguous in one segment and in one
// block, written by the flusher with one write. Fields other than buf's
// growth are set once.
type chunk struct {
	seq     uint64
	pos     int64  // position of buf[0] in the segment
	buf     []byte // the chunk's bytes in blk.mem; its capacity reaches the block's end
	blk     *block
	marks   []Mark
	lastIdx uint64
	seal    bool // seal the segment after writing this chunk
	done    chan struct{}
	err     error       // set before done is closed
	written bool        // guarded by Log.mu
	durable bool        // guarded by Log.mu
	wanted  atomic.Bool // someone waits for its durability
	// notify holds the functions OnDone registered, called once done is
	// closed; notified says they have been taken to be called (then a
	// late OnDone calls its function itself). Both guarded by Log.mu.
	notify   []func(error)
	notified bool
}

// Wait blocks until the entry's chunk is durable (per the sync policy) or
// has failed.
func (a Appended) Wait() error {
	a.want()
	<-a.c.done
	return a.c.err
}

// Done is closed when the entry is durable or failed; then Err says which.
// Asking for it counts as waiting (see Options.UnwaitedSyncDelay).
func (a Appended) Done() <-chan struct{} {
	a.want()
	return a.c.done
}

// OnDone arranges for fn to be called once, with Err's value, when the
// entry is durable or failed: on the flusher goroutine as it completes the
// entry's group commit (after Done is closed and the marks are handed to
// Options.OnDurable), or at once on the caller's goroutine if that has
// already happened. It spares a goroutine parked on Done, and the wake-up
// that would hand the result to it. fn holds up the flusher while it runs:
// it must be quick, must not block, and must not call into the log.
// Registering counts as waiting (see Options.UnwaitedSyncDelay).
func (a Appended) OnDone(fn func(error)) {
	a.want()
	a.l.mu.Lock()
	if a.c.notified {
		a.l.mu.Unlock()
		fn(a.c.err)
		return
	}
	a.c.notify = append(a.c.notify, fn)
	a.l.mu.Unlock()
}

// want marks the entry's chunk as waited for, and tells a flusher holding
// its fsync for more writes.
func (a Appended) want() {
	if a.l != nil && !a.c.wanted.Swap(true) {
		select {
		case a.l.wanted <- struct{}{}:
		default:
		}
	}
}

// Err is the entry's persistence error, valid after Done is closed.
func (a Appended) Err() error { return a.c.err }

// Appended is the place of an appended entry and its handle for waiting.
type Appended struct {
	EntryInfo
	c *chunk
	l *Log
}

// segment is an open segment file.
type segment struct {
	seq        uint64
	path       string
	file       vfs.File
	size       int64
	sealed     bool
	createdAt  time.Time
	firstIndex uint64
	lastIndex  uint64
	fileSize   int64 // size on disk when recovered, before finishSegment
	refs       int   // readers using file; guarded by Log.mu
	removed    bool  // file to be closed when refs drops to 0
	indexed    bool  // has a trusted index file (replayed from one, or written by the index writer); guarded by Log.mu

	// live holds the index records of the entries written into this
	// segment, built by the flusher from the bytes it wrote (recordLive),
	// so that the index writer need not read the sealed segment back. It
	// is given up, and liveOff set, once it passes or is on course to pass
	// Options.liveIndexBytes; a segment Open recovered has none. Owned by
	// the flusher until queueIndex hands it to the index job.
	live    liveRecords
	liveOn  bool // created by the flusher, so live covers every entry
	liveOff bool // live given up (or handed over)
}

// Log is one shard's commit log. Append and reads are safe for concurrent
// use; one flusher goroutine, started by Open and stopped by Close, does all
// writing and syncing.
type Log struct {
	opts Options

	mu sync.Mutex // guards everything below
	// mem holds chunks not yet evicted, in log order: unwritten ones at the
	// tail, written ones (the tail cache) before them.
	mem        []*chunk
	cur        *chunk // the chunk appends go to; last of mem, or nil
	unflushed  int    // index in mem of the first chunk the flusher has not taken
	pending    int64  // bytes appended and not yet durable
	cached     int64  // bytes of written chunks in mem
	nextIndex  uint64
	activeSeq  uint64
	activeSize int64
	activeAt   time.Time
	segs       map[uint64]*segment
	failed     error
	closed     bool
	lastFlush  time.Duration
	blk        *block   // the block appends frame entries into
	free       []*block // blocks no chunk holds, to reuse

	wake chan struct{} // buffered(1): something to flush
	// wanted (buffered(1)) is signalled when an entry is first waited for.
	wanted chan struct{}
	quit   chan struct{}
	done   chan struct{}

	// headSeq and headPos are how far the flusher has written; the
	// dropper (dropcache.go) follows them one segment behind. dropWake
	// (buffered(1)) wakes it; dropDone is closed when it returns (nil
	// without Options.DropSealedCache).
	headSeq  uint64
	headPos  int64
	dropWake chan struct{}
	dropDone chan struct{}

	indexJobs chan indexJob // sealed segments' index files, flusher to index writer
	indexDone chan struct{} // closed when the index writer returns
	// indexPending counts index jobs queued (Open's backlog and the
	// channel's) and not yet built or dropped; indexIdle (on mu) is
	// broadcast when it reaches zero. Guarded by mu.
	indexPending int
	// liveQueued is the memory (pieces) of live index records held by
	// queued index jobs (bounded by maxQueuedLiveBytes); guarded by mu.
	liveQueued int
	// flushBuf is the flusher's list of the chunks it takes in one pass,
	// reused from pass to pass; owned by the flusher goroutine.
	flushBuf []*chunk
	// freeMarks holds emptied marks slices of completed chunks, for new
	// chunks to append to (recycleMarksLocked); guarded by mu.
	freeMarks [][]Mark
	// livePieces holds empty pieces for live index records
	// (liverecords.go), for the flusher to reuse; guarded by mu.
	livePieces [][]byte
	indexIdle  sync.Cond
}

func segName(seq uint64) string { return fmt.Sprintf("%020d.log", seq) }

// Append frames payload as the next entry of the log and queues it for the
// flusher. It returns at once; Wait on the result for durability. The
// payload is copied.
func (l *Log) Append(stream uint64, payload []byte, mark Mark) (Appended, error) {
	size := int64(FrameHeaderSize + len(payload))
	if size > MaxEntrySize {
		return Appended{}, fmt.Errorf("commitlog: entry of %d bytes exceeds the limit of %d", size, MaxEntrySize)
	}
	pcrc := payloadCRC(payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Appended{}, ErrClosed
	}
	if l.failed != nil {
		return Appended{}, fmt.Errorf("commitlog: log failed earlier, reopen to recover: %w", l.failed)
	}
	if l.pending > 0 && l.pending+size > l.opts.MaxPendingBytes {
		return Appended{}, &OverloadError{Pending: l.pending, Limit: l.opts.MaxPendingBytes, RetryAfter: l.retryAfter()}
	}
	if l.activeSize > 0 && (l.activeSize+size > l.opts.SegmentBytes ||
		(l.opts.SegmentAge > 0 && time.Since(l.activeAt) >= l.opts.SegmentAge)) {
		l.rollLocked()
	}
	c := l.cur
	if c == nil || c.seq != l.activeSeq || !l.fitsLocked(int(size)) {
		c = l.newChunkLocked(int(size))
	}
	info := EntryInfo{Seq: l.activeSeq, Pos: l.activeSize, Size: int32(size), Term: l.opts.Term, Index: l.nextIndex, Stream: stream}
	// The frame fits in the rest of the block, which c.buf's capacity
	// reaches: this append writes in place.
	c.buf = appendFrame(c.buf, info.Term, info.Index, stream, payload, pcrc)
	c.blk.used += int(size)
	c.lastIdx = info.Index
	c.marks = append(c.marks, mark)
	l.nextIndex++
	l.activeSize += size
	l.pending += size
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return Appended{EntryInfo: info, c: c, l: l}, nil
}

// retryAfter estimates when a shed append would be accepted: about one
// flush from now.
func (l *Log) retryAfter() time.Duration {
	d := 2 * l.lastFlush
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

// newChunkLocked starts a chunk at the active position, in the current
// block if need more bytes fit there, else in a new block.
func (l *Log) newChunkLocked(need int) *chunk {
	if !l.fitsLocked(need) {
		l.nextBlockLocked(need)
	}
	b := l.blk
	b.refs++
	c := &chunk{seq: l.activeSeq, pos: l.activeSize, done: make(chan struct{}), blk: b, buf: b.mem[b.used:b.used:len(b.mem)]}
	if n := len(l.freeMarks); n > 0 {
		c.marks, l.freeMarks = l.freeMarks[n-1], l.freeMarks[:n-1]
	}
	l.mem = append(l.mem, c)
	l.cur = c
	return c
}

// rollLocked ends the active segment: the chunk holding its last bytes
// seals it once written, and appends go to the next segment.
func (l *Log) rollLocked() {
	c := l.cur
	if c == nil || c.seq != l.activeSeq {
		c = l.newChunkLocked(0)
	}
	c.seal = true
	l.cur = nil
	l.activeSeq++
	l.activeSize = 0
	l.activeAt = time.Now()
}

// Roll seals the active segment if it holds any entry. It returns at once;
// the flusher seals it.
func (l *Log) Roll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.failed != nil || l.activeSize == 0 {
		return
	}
	l.rollLocked()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// NextIndex returns the index the next appended entry will get.
func (l *Log) NextIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextIndex
}

// Err returns the error that failed the log, or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// PendingBytes returns the bytes appended and not yet durable.
func (l *Log) PendingBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// Segments describes the segments on disk, oldest first, including the
// active one.
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegmentInfo, 0, len(l.segs))
	for _, s := range l.segs {
		if s.removed {
			continue
		}
		out = append(out, SegmentInfo{Seq: s.seq, Size: s.size, Sealed: s.sealed, CreatedAt: s.createdAt, FirstIndex: s.firstIndex, LastIndex: s.lastIndex})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// ActiveSeq returns the sequence number of the segment appends go to.
func (l *Log) ActiveSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.activeSeq
}

// DeleteSegment removes a sealed segment's file. Readers that hold it
// finish first; the file is closed when the last one is done.
func (l *Log) DeleteSegment(seq uint64) error {
	l.mu.Lock()
	s, ok := l.segs[seq]
	if !ok || s.removed {
		l.mu.Unlock()
		return fmt.Errorf("commitlog: delete segment %d: no such segment", seq)
	}
	if !s.sealed {
		l.mu.Unlock()
		return fmt.Errorf("commitlog: delete segment %d: it is the active segment", seq)
	}
	s.removed = true
	delete(l.segs, seq)
	closeNow := s.refs == 0
	l.mu.Unlock()
	if err := l.opts.FS.Remove(s.path); err != nil {
		return fmt.Errorf("commitlog: delete segment %s: %w", s.path, err)
	}
	if closeNow {
		s.file.Close()
	}
	if err := l.opts.FS.Remove(l.indexPath(seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// The segment is gone already; Open removes an index file left
		// without its segment.
		l.opts.Logger.Warn("index file of a deleted segment not removed", "dir", l.opts.Dir, "segment", seq, "err", err)
	}
	return l.opts.FS.SyncDir(l.opts.Dir)
}

// Close stops the flusher after it has written and synced everything
// appended, closes the files and returns the first error met.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.indexIdle.Broadcast() // WaitIndexed returns: queued index jobs are dropped
	l.mu.Unlock()
	close(l.quit)
	<-l.done
	close(l.indexJobs) // the flusher, its only sender, has returned
	<-l.indexDone
	if l.dropDone != nil {
		<-l.dropDone
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.failed
	for _, s := range l.segs {
		if cerr := s.file.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	return err
}

func (l *Log) path(seq uint64) string { return filepath.Join(l.opts.Dir, segName(seq)) }
