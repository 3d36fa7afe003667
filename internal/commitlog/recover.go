package commitlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Report says what Open found and what it cut.
type Report struct {
	Segments int           // segment files recovered
	Indexed  int           // of them, replayed from their index files, unread
	Entries  int64         // valid entries replayed
	Bytes    int64         // bytes of valid entries
	Removed  []string      // empty segment files removed
	Cut      *Cut          // nil if every segment was whole
	Took     time.Duration // time recovery took
}

// Cut describes where recovery cut the log and why.
type Cut struct {
	Seq          uint64   // segment cut
	Pos          int64    // its new size: the end of its last whole entry
	Reason       string   // the check that failed
	DroppedBytes int64    // bytes after Pos in that segment that were not zeros
	MovedAside   []string // later segments renamed with a .corrupt suffix
}

// ReplayFunc receives each valid entry during Open, in log order. payload is
// valid only during the call. An error stops Open.
type ReplayFunc func(e EntryInfo, payload []byte) error

// Open opens (or creates) the log in opts.Dir, recovers it as the package
// doc describes, replays every valid entry to replay (which may be nil), and
// starts the flusher. Appends go to a new segment after the recovered ones,
// which are all sealed.
func Open(opts Options, replay ReplayFunc) (*Log, Report, error) {
	opts.setDefaults()
	var rep Report
	start := time.Now()
	if err := opts.FS.MkdirAll(opts.Dir); err != nil {
		return nil, rep, fmt.Errorf("commitlog: create directory %s: %w", opts.Dir, err)
	}
	names, err := opts.FS.List(opts.Dir)
	if err != nil {
		return nil, rep, fmt.Errorf("commitlog: list %s: %w", opts.Dir, err)
	}
	var seqs []uint64
	for _, name := range names {
		if seq, ok := parseSegName(name); ok {
			seqs = append(seqs, seq)
		}
	}
	l := &Log{
		opts:      opts,
		nextIndex: 1,
		segs:      make(map[uint64]*segment),
		wake:      make(chan struct{}, 1),
		wanted:    make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		indexJobs: make(chan indexJob, 64),
		indexDone: make(chan struct{}),
	}
	var lastSeq uint64
	expect := uint64(0)    // next index expected; 0 = take the first seen
	var backlog []indexJob // scanned segments, to index
	var firstRead uint64   // the first segment Open read (scanned); 0: none
	for i, seq := range seqs {
		lastSeq = seq
		// Retention deletes whole segments wherever nothing refers to
		// them any more, so the log may skip from one segment to a later
		// one: the entry indexes then skip too, and only must not go back.
		afterGap := i > 0 && seq != seqs[i-1]+1
		indexed := rep.Indexed
		s, cut, err := l.recoverSegment(seq, &expect, afterGap, replay, &rep)
		scanned := rep.Indexed == indexed
		if scanned && firstRead == 0 {
			firstRead = seq
		}
		if err != nil {
			l.closeFiles()
			return nil, rep, err
		}
		rep.Segments++
		if cut != nil {
			// Move the later segments aside before cutting this one, so
			// that an Open interrupted here (a failed rename) finds the
			// same corruption again next time.
			for _, later := range seqs[i+1:] {
				from := l.path(later)
				to := from + ".corrupt"
				if err := opts.FS.Rename(from, to); err != nil {
					s.file.Close()
					l.closeFiles()
					return nil, rep, fmt.Errorf("commitlog: move aside %s after a cut in segment %d: %w", from, seq, err)
				}
				cut.MovedAside = append(cut.MovedAside, to)
			}
			rep.Cut = cut
			opts.Logger.Warn("commit log cut at the last whole entry", "dir", opts.Dir, "segment", seq,
				"pos", cut.Pos, "reason", cut.Reason, "dropped_bytes", cut.DroppedBytes, "moved_aside", cut.MovedAside)
		}
		if s, err = l.finishSegment(s); err != nil {
			l.closeFiles()
			return nil, rep, err
		}
		if s == nil {
			rep.Removed = append(rep.Removed, l.path(seq))
		} else {
			l.segs[seq] = s
			if scanned && opts.IndexPrefix > 0 {
				// Its index file, built once the log runs, spares the
				// next Open this scan.
				backlog = append(backlog, indexJob{seq: seq, first: s.firstIndex, count: int(s.lastIndex - s.firstIndex + 1), segSize: s.size})
			}
		}
		if cut != nil {
			break
		}
	}
	if expect > 0 {
		l.nextIndex = expect
	}
	if err := l.removeStrayIndexes(names); err != nil {
		l.closeFiles()
		return nil, rep, err
	}
	if err := opts.FS.SyncDir(opts.Dir); err != nil {
		l.closeFiles()
		return nil, rep, fmt.Errorf("commitlog: sync directory %s: %w", opts.Dir, err)
	}
	l.activeSeq = lastSeq + 1
	l.activeAt = time.Now()
	rep.Took = time.Since(start)
	l.indexIdle.L = &l.mu
	l.indexPending = len(backlog)
	if opts.DropSealedCache {
		// From the first segment Open read (a scan, or a reopen after a
		// storage failure, which reads them all) and left cached, or else
		// from the last one, which the previous run was writing.
		first := lastSeq
		if firstRead != 0 {
			first = min(firstRead, lastSeq)
		}
		l.dropWake, l.dropDone = make(chan struct{}, 1), make(chan struct{})
		go l.dropper(first)
	}
	go l.run()
	go l.indexWriter(backlog)
	return l, rep, nil
}

// removeStrayIndexes removes index files whose segment is gone (deleted
// while its index was written, or moved aside as corrupt) and temporary
// ones a crash left. A stray index file must not outlive this Open: after
// a cut the next segment number is used again, and the old file would
// stand beside a new segment.
func (l *Log) removeStrayIndexes(names []string) error {
	for _, name := range names {
		stray := strings.HasSuffix(name, ".tmp") && strings.Contains(name, ".idx.")
		if base, ok := strings.CutSuffix(name, ".idx"); ok {
			seq, ok := parseSegName(base + ".log")
			stray = ok && l.segs[seq] == nil
		}
		if !stray {
			continue
		}
		path := filepath.Join(l.opts.Dir, name)
		if err := l.opts.FS.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("commitlog: remove stray index file %s: %w", path, err)
		}
	}
	return nil
}

func parseSegName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ".log")
	if !ok || len(base) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, err == nil
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		s.file.Close()
	}
}

// recoverSegment scans one segment and replays its valid entries; it
// changes nothing on disk (finishSegment does, once Open has decided).
func (l *Log) recoverSegment(seq uint64, expect *uint64, afterGap bool, replay ReplayFunc, rep *Report) (*segment, *Cut, error) {
	path := l.path(seq)
	f, err := l.opts.FS.OpenRW(path)
	if err != nil {
		return nil, nil, fmt.Errorf("commitlog: open segment %s: %w", path, err)
	}
	if l.opts.DropCache {
		if err := f.DropCache(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("commitlog: drop cached pages of %s: %w", path, err)
		}
	}
	fileSize, err := f.Size()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("commitlog: size of %s: %w", path, err)
	}
	s := &segment{seq: seq, path: path, file: f, sealed: true}
	if fi, err := l.opts.FS.Stat(path); err == nil {
		s.createdAt = fi.ModTime()
	}
	// After a failed fsync only the disk is trusted: no index file then.
	if l.opts.IndexPrefix > 0 && !l.opts.DropCache {
		j, err := l.loadIndex(seq, fileSize, *expect, afterGap)
		if err == nil {
			if err := l.replayIndex(s, j, replay, rep); err != nil {
				f.Close()
				return nil, nil, err
			}
			s.size, s.fileSize, s.indexed = fileSize, fileSize, true
			if j.count > 0 {
				*expect = j.first + uint64(j.count)
			}
			return s, nil, nil
		}
		if !errors.Is(err, errNoIndex) {
			l.opts.Logger.Warn("segment index file not trusted; scanning the segment", "dir", l.opts.Dir, "segment", seq, "err", err)
		}
	}
	sc := scanner{f: f, size: fileSize, buf: make([]byte, 0, 4<<20)}
	var cut *Cut
	for {
		b, reason := sc.next()
		if b == nil {
			if reason != "" {
				cut = &Cut{Seq: seq, Pos: sc.pos, Reason: reason}
			}
			break
		}
		term, index, stream, payload, err := parseFrame(b)
		if err != nil {
			cut = &Cut{Seq: seq, Pos: sc.pos, Reason: err.Error()}
			break
		}
		if *expect != 0 && index != *expect && !(afterGap && sc.pos == 0 && index > *expect) {
			cut = &Cut{Seq: seq, Pos: sc.pos, Reason: fmt.Sprintf("entry index %d where %d was expected", index, *expect)}
			break
		}
		*expect = index + 1
		info := EntryInfo{Seq: seq, Pos: sc.pos, Size: int32(len(b)), Term: term, Index: index, Stream: stream}
		if replay != nil {
			if err := replay(info, payload); err != nil {
				f.Close()
				return nil, nil, fmt.Errorf("commitlog: replay entry %d of %s: %w", index, path, err)
			}
		}
		if s.firstIndex == 0 {
			s.firstIndex = index
		}
		s.lastIndex = index
		sc.pos += int64(len(b))
		rep.Entries++
		rep.Bytes += int64(len(b))
	}
	if sc.err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("commitlog: read segment %s: %w", path, sc.err)
	}
	s.size = sc.pos
	s.fileSize = fileSize
	if cut != nil {
		cut.DroppedBytes = countNonZero(f, sc.pos, fileSize)
	}
	return s, cut, nil
}

// finishSegment makes a scanned segment exactly its valid size: an empty
// one is removed (nil is returned), a longer file (a preallocated tail, or
// a cut) is truncated and synced.
func (l *Log) finishSegment(s *segment) (*segment, error) {
	if s.size == 0 {
		s.file.Close()
		if err := l.opts.FS.Remove(s.path); err != nil {
			return nil, fmt.Errorf("commitlog: remove empty segment %s: %w", s.path, err)
		}
		return nil, nil
	}
	if s.fileSize != s.size {
		if err := s.file.Truncate(s.size); err != nil {
			s.file.Close()
			return nil, fmt.Errorf("commitlog: cut %s to %d bytes: %w", s.path, s.size, err)
		}
		if err := s.file.Sync(); err != nil {
			s.file.Close()
			return nil, fmt.Errorf("commitlog: sync %s after cutting: %w", s.path, err)
		}
	}
	return s, nil
}

// scanner reads a segment's frames sequentially with large reads.
type scanner struct {
	f interface {
		ReadAt([]byte, int64) (int, error)
	}
	size int64
	pos  int64  // file position of the next frame
	buf  []byte // file bytes from bufAt
	at   int64
	err  error
}

// next returns the next whole frame's bytes, or nil with a reason for the
// cut ("" at a clean end: end of file or zeros).
func (sc *scanner) next() ([]byte, string) {
	if sc.size-sc.pos < 8 {
		if sc.size-sc.pos > 0 && !sc.zeros(sc.pos, sc.size) {
			return nil, fmt.Sprintf("%d trailing bytes, shorter than a frame header", sc.size-sc.pos)
		}
		return nil, ""
	}
	h, ok := sc.window(sc.pos, 8)
	if !ok {
		return nil, ""
	}
	n := frameLength(h)
	if n == 8 { // length 0: the zero tail of a preallocated segment, or a hole
		if sc.zeros(sc.pos, sc.size) {
			return nil, ""
		}
		return nil, "zero length field followed by data"
	}
	if n < FrameHeaderSize || n > MaxEntrySize {
		return nil, fmt.Sprintf("frame length %d out of range", n)
	}
	if int64(n) > sc.size-sc.pos {
		return nil, fmt.Sprintf("frame of %d bytes runs past the end of the file (%d bytes left)", n, sc.size-sc.pos)
	}
	b, ok := sc.window(sc.pos, n)
	if !ok {
		return nil, ""
	}
	return b, ""
}

// window returns n file bytes at off, reading ahead in large blocks.
func (sc *scanner) window(off int64, n int) ([]byte, bool) {
	if off >= sc.at && off+int64(n) <= sc.at+int64(len(sc.buf)) {
		return sc.buf[off-sc.at : off-sc.at+int64(n)], true
	}
	want := max(n, 4<<20)
	if rem := sc.size - off; int64(want) > rem {
		want = int(rem)
	}
	if cap(sc.buf) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	m, err := sc.f.ReadAt(sc.buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		sc.err = err
		return nil, false
	}
	sc.buf, sc.at = sc.buf[:m], off
	if m < n {
		return nil, false
	}
	return sc.buf[:n], true
}

// zeros reports whether the file is all zeros from off to end.
func (sc *scanner) zeros(off, end int64) bool {
	for off < end {
		n := int(min(end-off, 1<<20))
		b, ok := sc.window(off, n)
		if !ok {
			return false
		}
		for _, x := range b {
			if x != 0 {
				return false
			}
		}
		off += int64(n)
	}
	return true
}

// countNonZero counts the non-zero bytes of f in [from, to), to say how much
// real data a cut dropped (the preallocated zero tail is not data).
func countNonZero(f interface {
	ReadAt([]byte, int64) (int, error)
}, from, to int64) int64 {
	var n int64
	buf := make([]byte, 1<<20)
	for off := from; off < to; {
		m, err := f.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		for _, x := range buf[:m] {
			if x != 0 {
				n++
			}
		}
		if m == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			break
		}
		off += int64(m)
	}
	return n
}
