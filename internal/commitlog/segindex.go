package commitlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"sync/atomic"
)

// A sealed segment's index file (NNNN.idx beside NNNN.log) lets Open
// replay the segment without reading it: it holds, for each entry in
// order, the frame's size, term and stream and the first
// Options.IndexPrefix bytes of its payload (enough for a caller's replay to
// rebuild its own indexes, say a Kafka batch header). Recovery otherwise
// reads every retained byte, so restart time grew with the data kept; the
// index file is about (22 + prefix) bytes per entry.
//
// Layout, little-endian:
//
//	header   magic "MRSIDX01" | first index u64 | count u32 | prefix u16 | 0 u16 | segment size u64
//	records  count × (frame size u32 | term u64 | stream u64 | n u16 | n payload bytes), n ≤ prefix
//	trailer  CRC32C (Castagnoli) of header and records, u32
//
// Entries are contiguous from position 0 and their indexes consecutive
// from the first, so neither is stored. The flusher builds a segment's
// records in memory as it writes the segment's entries (recordLive), from
// the very bytes it writes, and once the segment is sealed the index
// writer goroutine writes them out under a temporary name, synced, then
// renamed. Reading a sealed segment back to build them (256 MiB every two
// seconds at 120 MB/s, a CPU-bound burst of a core beside the appends)
// showed in every client's latency tail (BENCHMARKS.md, sixth pass); it is
// now the fallback, for segments Open scanned and for entries too small
// for their records to stay in memory (past maxLiveIndexBytes): the
// writer then fdatasyncs the segment (Open's scan does not sync a segment
// it did not have to cut), reads it back and checks every frame's CRC as
// it goes. Open trusts an index file only if its
// checksum, its count and its frame sizes add up to the segment file's
// size and its first index continues the log; anything else (missing,
// torn, stale) and Open scans the segment as before and queues a rebuild.
const (
	indexMagic      = "MRSIDX01"
	indexHeaderSize = 32
	indexRecordHead = 22
)

func indexName(seq uint64) string { return fmt.Sprintf("%020d.idx", seq) }

func (l *Log) indexPath(seq uint64) string { return filepath.Join(l.opts.Dir, indexName(seq)) }

// appendIndexRecord appends frame's index record to dst.
func appendIndexRecord(dst, frame []byte, prefix int) []byte {
	payload := frame[FrameHeaderSize:]
	p := payload[:min(prefix, len(payload))]
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(frame)))
	dst = binary.LittleEndian.AppendUint64(dst, binary.LittleEndian.Uint64(frame[8:]))  // term
	dst = binary.LittleEndian.AppendUint64(dst, binary.LittleEndian.Uint64(frame[24:])) // stream
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p)))
	return append(dst, p...)
}

// maxLiveIndexBytes bounds the index records the flusher keeps for the
// active segment (Options.liveIndexBytes): 32 MiB covers a 256 MiB segment
// of entries of 700 bytes or more (83-byte records with a Kafka batch
// header); smaller entries fall back to reading the sealed segment back.
const maxLiveIndexBytes = 32 << 20

// maxQueuedLiveBytes bounds the memory of the live records (whole pieces)
// held by index jobs waiting for the index writer: two segments' records at
// their bound, each rounded up to whole pieces. Past it a job reads its
// segment back instead.
const maxQueuedLiveBytes = 2 * (maxLiveIndexBytes + livePieceBytes)

// recordLive appends the index records of the frames in buf, just
// written into segment s up to position end, to s.live. Called by the
// flusher only. Once the records pass their bound, or are on course to by
// the segment's end (judged from its first eighth on, so that a segment of
// small entries gives up early rather than copy 32 MiB to throw away),
// they are given up and their pieces kept for the next segment.
func (l *Log) recordLive(s *segment, buf []byte, end int64) {
	if !s.liveOn || s.liveOff {
		return
	}
	for len(buf) >= FrameHeaderSize {
		n := frameLength(buf)
		if n < FrameHeaderSize || n > len(buf) {
			break // never for bytes appendFrame framed; if it were, read the segment back
		}
		s.live.add(buf[:n], l.opts.IndexPrefix, l.takePiece)
		buf = buf[n:]
	}
	bound, seg := int64(l.opts.liveIndexBytes), l.opts.SegmentBytes
	kept := int64(s.live.n)
	if len(buf) != 0 || kept > bound || (end >= seg/8 && kept*seg/end > bound) {
		l.mu.Lock()
		l.givePiecesLocked(s.live.pieces)
		l.mu.Unlock()
		s.live, s.liveOff = liveRecords{}, true
	}
}

// indexJob is a sealed segment whose index file is to be built.
type indexJob struct {
	seq     uint64
	first   uint64 // index of its first entry
	count   int
	segSize int64
	// live is the segment's records, built as it was written; nil: read
	// the segment back to build them.
	live [][]byte
}

// header returns the index file's header for j.
func (j indexJob) header(prefix int) []byte {
	b := make([]byte, 0, indexHeaderSize)
	b = append(b, indexMagic...)
	b = binary.LittleEndian.AppendUint64(b, j.first)
	b = binary.LittleEndian.AppendUint32(b, uint32(j.count))
	b = binary.LittleEndian.AppendUint16(b, uint16(prefix))
	b = binary.LittleEndian.AppendUint16(b, 0)
	return binary.LittleEndian.AppendUint64(b, uint64(j.segSize))
}

// tmpSeq numbers temporary index files, so that two Logs on one directory
// (a shard reopened after a storage failure while the failed one is still
// open) never write the same file.
var tmpSeq atomic.Uint64

// buildIndex writes the index file of sealed segment j.seq from the
// segment itself.
func (l *Log) buildIndex(j indexJob) error {
	s := l.holdSealed(j.seq)
	if s == nil {
		return nil // deleted by retention meanwhile; nothing to index
	}
	defer l.release(s)
	if j.live == nil {
		// Sealed by the flusher, a segment is synced already; one Open
		// scanned may not be.
		if err := s.file.Sync(); err != nil {
			return fmt.Errorf("commitlog: sync %s before indexing it: %w", s.path, err)
		}
	}
	final := l.indexPath(j.seq)
	tmp := fmt.Sprintf("%s.%d.tmp", final, tmpSeq.Add(1))
	f, err := l.opts.FS.Create(tmp)
	if err != nil {
		return fmt.Errorf("commitlog: create index file %s: %w", tmp, err)
	}
	err = l.writeIndexRecords(f, s, j)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.opts.FS.Rename(tmp, final)
	}
	if err != nil {
		l.opts.FS.Remove(tmp)
		return fmt.Errorf("commitlog: index file %s: %w", final, err)
	}
	return nil
}

// writeIndexRecords writes j's header, a record per entry and the
// checksum to f: the records the flusher kept (j.live), or else those read
// back from segment s (readIndexRecords).
func (l *Log) writeIndexRecords(f interface{ Write([]byte) (int, error) }, s *segment, j indexJob) error {
	w := bufio.NewWriterSize(f, 1<<20)
	crc := crc32.New(castagnoli)
	out := io.MultiWriter(w, crc)
	if _, err := out.Write(j.header(l.opts.IndexPrefix)); err != nil {
		return err
	}
	var err error
	if j.live != nil {
		for _, p := range j.live {
			if _, err = out.Write(p); err != nil {
				break
			}
		}
	} else {
		err = l.readIndexRecords(out, s, j)
	}
	if err != nil {
		return err
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return err
	}
	return w.Flush()
}

// readIndexRecords reads segment s, checking each frame and that it holds
// j's entries exactly, and writes a record per entry to out.
func (l *Log) readIndexRecords(out io.Writer, s *segment, j indexJob) error {
	sc := scanner{f: s.file, size: j.segSize, buf: make([]byte, 0, 4<<20)}
	var rec []byte
	n := 0
	for {
		b, reason := sc.next()
		if b == nil {
			if reason != "" || sc.err != nil {
				return fmt.Errorf("read %s at %d: %s%v", s.path, sc.pos, reason, sc.err)
			}
			break
		}
		_, index, _, _, err := parseFrame(b)
		if err != nil {
			return fmt.Errorf("read %s at %d: %w", s.path, sc.pos, err)
		}
		if want := j.first + uint64(n); index != want {
			return fmt.Errorf("read %s at %d: entry index %d where %d was expected", s.path, sc.pos, index, want)
		}
		rec = appendIndexRecord(rec[:0], b, l.opts.IndexPrefix)
		if _, err := out.Write(rec); err != nil {
			return err
		}
		sc.pos += int64(len(b))
		n++
	}
	if n != j.count || sc.pos != j.segSize {
		return fmt.Errorf("%s holds %d entries in %d bytes; %d in %d expected", s.path, n, sc.pos, j.count, j.segSize)
	}
	return nil
}

// indexWriter is the goroutine that builds the index files of sealed
// segments (those the flusher seals, and those Open had to scan, first),
// so that neither a seal nor Open waits for another file's write and
// sync. Started by Open; it returns once Close has closed l.indexJobs
// after the flusher stopped. Jobs still queued when Close begins, or when
// the log has failed, are dropped: a missing index file only costs a scan
// at the next Open. A failure is logged, for the same reason.
func (l *Log) indexWriter(backlog []indexJob) {
	defer close(l.indexDone)
	build := func(j indexJob) {
		defer l.indexJobDone(j)
		l.mu.Lock()
		skip := l.closed || l.failed != nil
		l.mu.Unlock()
		if skip {
			return
		}
		if err := l.buildIndex(j); err != nil {
			l.opts.Logger.Warn("segment index file not written; the next open scans the segment", "dir", l.opts.Dir, "segment", j.seq, "err", err)
			return
		}
		l.mu.Lock()
		s := l.segs[j.seq]
		if s != nil {
			s.indexed = true
		}
		l.mu.Unlock()
		if s == nil {
			// DeleteSegment ran while the file was written.
			l.opts.FS.Remove(l.indexPath(j.seq))
			return
		}
		if l.opts.OnIndexed != nil {
			l.opts.OnIndexed(j.seq)
		}
	}
	for _, j := range backlog {
		build(j)
	}
	for j := range l.indexJobs {
		build(j)
	}
}

// holdSealed returns sealed segment seq with its file held open (release
// it), or nil if there is no such segment.
func (l *Log) holdSealed(seq uint64) *segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[seq]
	if s == nil || s.removed || !s.sealed {
		return nil
	}
	s.refs++
	return s
}

// queueIndex hands a sealed segment to the index writer, and drops it
// (logged) if the writer is far behind: a missing index file only costs a
// scan.
func (l *Log) queueIndex(s *segment) {
	if s.firstIndex == 0 {
		return // no entry
	}
	j := indexJob{seq: s.seq, first: s.firstIndex, count: int(s.lastIndex - s.firstIndex + 1), segSize: s.size}
	live, usable := s.live, s.liveOn && !s.liveOff && s.live.count == j.count
	s.live, s.liveOff = liveRecords{}, true // handed over (or not), never added to again
	l.mu.Lock()
	l.indexPending++
	if usable && l.liveQueued+live.footprint() <= maxQueuedLiveBytes {
		j.live = live.pieces
		l.liveQueued += live.footprint()
	} else {
		l.givePiecesLocked(live.pieces)
	}
	l.mu.Unlock()
	select {
	case l.indexJobs <- j:
	default:
		l.indexJobDone(j)
		l.opts.Logger.Warn("segment index writer behind; index file skipped, the next open scans the segment", "dir", l.opts.Dir, "segment", s.seq)
	}
}

// indexJobDone counts a queued index job as built or dropped, and puts its
// records' pieces back for the next segment's.
func (l *Log) indexJobDone(j indexJob) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.liveQueued -= len(j.live) * livePieceBytes
	l.givePiecesLocked(j.live) // written or dropped: the next segment's
	if l.indexPending--; l.indexPending == 0 {
		l.indexIdle.Broadcast()
	}
}

// WaitIndexed blocks until every index file queued so far (segments sealed,
// or scanned by Open) is written, dropped, or the log closed.
func (l *Log) WaitIndexed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.indexPending > 0 && !l.closed {
		l.indexIdle.Wait()
	}
}

// errNoIndex means a segment has no index file to replay from.
var errNoIndex = errors.New("no index file")

// loadedIndex is an index file read and checked: its header's fields and
// its records.
type loadedIndex struct {
	indexJob
	records []byte
}

// loadIndex reads and checks seq's index file against the segment's size
// and the index its first entry must have (0: any; with afterGap, at
// least that). It returns what it holds, or why it cannot be trusted
// (errNoIndex if absent). The file is read whole: about 83 bytes per entry
// of one segment, for as long as its replay.
func (l *Log) loadIndex(seq uint64, segSize int64, expect uint64, afterGap bool) (loadedIndex, error) {
	path := l.indexPath(seq)
	f, err := l.opts.FS.Open(path)
	if err != nil {
		return loadedIndex{}, errNoIndex
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return loadedIndex{}, fmt.Errorf("size of %s: %w", path, err)
	}
	if size < indexHeaderSize+4 || size > 1<<31 {
		return loadedIndex{}, fmt.Errorf("%s: %d bytes is not an index file's size", path, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return loadedIndex{}, fmt.Errorf("read %s: %w", path, err)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if string(body[:8]) != indexMagic {
		return loadedIndex{}, fmt.Errorf("%s: bad magic %q", path, body[:8])
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return loadedIndex{}, fmt.Errorf("%s: crc stored 0x%08x, computed 0x%08x", path, sum, got)
	}
	j := loadedIndex{indexJob{
		seq:     seq,
		first:   binary.LittleEndian.Uint64(body[8:]),
		count:   int(binary.LittleEndian.Uint32(body[16:])),
		segSize: int64(binary.LittleEndian.Uint64(body[24:])),
	}, body[indexHeaderSize:]}
	if prefix := int(binary.LittleEndian.Uint16(body[20:])); prefix != l.opts.IndexPrefix {
		return loadedIndex{}, fmt.Errorf("%s: written with a prefix of %d bytes, %d wanted", path, prefix, l.opts.IndexPrefix)
	}
	if j.segSize != segSize {
		return loadedIndex{}, fmt.Errorf("%s: for a segment of %d bytes, the file has %d", path, j.segSize, segSize)
	}
	if expect != 0 && (j.first < expect || (j.first != expect && !afterGap)) {
		return loadedIndex{}, fmt.Errorf("%s: first entry %d where %d was expected", path, j.first, expect)
	}
	// Walk the records once to check they are whole and cover the segment.
	var pos int64
	n := 0
	for r := j.records; len(r) > 0; n++ {
		if len(r) < indexRecordHead {
			return loadedIndex{}, fmt.Errorf("%s: record %d torn", path, n)
		}
		plen := int(binary.LittleEndian.Uint16(r[20:]))
		fsize := int64(binary.LittleEndian.Uint32(r[0:]))
		if plen > l.opts.IndexPrefix || len(r) < indexRecordHead+plen || fsize < FrameHeaderSize || fsize > MaxEntrySize {
			return loadedIndex{}, fmt.Errorf("%s: record %d malformed", path, n)
		}
		pos += fsize
		r = r[indexRecordHead+plen:]
	}
	if n != j.count || pos != segSize {
		return loadedIndex{}, fmt.Errorf("%s: %d records covering %d bytes; header says %d records, the segment has %d bytes", path, n, pos, j.count, segSize)
	}
	return j, nil
}

// replayIndex replays a checked index file's entries, payloads cut to
// their stored prefix, and sets the segment's first and last index.
func (l *Log) replayIndex(s *segment, j loadedIndex, replay ReplayFunc, rep *Report) error {
	if err := j.each(s.seq, func(info EntryInfo, prefix []byte) error {
		if replay != nil {
			if err := replay(info, prefix); err != nil {
				return fmt.Errorf("commitlog: replay entry %d of %s (from its index file): %w", info.Index, s.path, err)
			}
		}
		rep.Entries++
		rep.Bytes += int64(info.Size)
		return nil
	}); err != nil {
		return err
	}
	if j.count > 0 {
		s.firstIndex, s.lastIndex = j.first, j.first+uint64(j.count)-1
	}
	rep.Indexed++
	return nil
}

// each calls fn for each of a checked index file's entries, in order, with
// the payload prefix it stores. Entries are marked Indexed.
func (j loadedIndex) each(seq uint64, fn ReplayFunc) error {
	var pos int64
	index := j.first
	for r := j.records; len(r) > 0; index++ {
		size := int32(binary.LittleEndian.Uint32(r[0:]))
		plen := int(binary.LittleEndian.Uint16(r[20:]))
		info := EntryInfo{Seq: seq, Pos: pos, Size: size, Term: binary.LittleEndian.Uint64(r[4:]), Index: index,
			Stream: binary.LittleEndian.Uint64(r[12:]), Indexed: true}
		if err := fn(info, r[indexRecordHead:indexRecordHead+plen]); err != nil {
			return err
		}
		pos += int64(size)
		r = r[indexRecordHead+plen:]
	}
	return nil
}

// Indexed reports whether sealed segment seq has a trusted index file: one
// Open replayed it from, or one the index writer wrote since.
func (l *Log) Indexed(seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[seq]
	return s != nil && s.indexed
}

// SegmentEntries calls fn for each entry of sealed segment seq, in log
// order, with the first Options.IndexPrefix bytes of its payload (as a
// replay from the index file would hand them): from the segment's index
// file, or, if that is missing or cannot be trusted, by reading the
// segment itself, every frame's CRC checked. It is how a caller that keeps
// only a summary of a sealed segment in memory reads its entries back.
func (l *Log) SegmentEntries(seq uint64, fn ReplayFunc) error {
	s := l.holdSealed(seq)
	if s == nil {
		return fmt.Errorf("commitlog: entries of segment %d in %s: %w", seq, l.opts.Dir, ErrSegmentGone)
	}
	defer l.release(s)
	if l.opts.IndexPrefix > 0 {
		j, err := l.loadIndex(seq, s.size, s.firstIndex, false)
		if err == nil {
			return j.each(seq, fn)
		}
		l.opts.Logger.Warn("segment index file not trusted; reading the segment instead", "dir", l.opts.Dir, "segment", seq, "err", err)
	}
	sc := scanner{f: s.file, size: s.size, buf: make([]byte, 0, 4<<20)}
	for {
		b, reason := sc.next()
		if b == nil {
			if reason != "" || sc.err != nil {
				return fmt.Errorf("commitlog: entries of %s at %d: %s%v", s.path, sc.pos, reason, sc.err)
			}
			return nil
		}
		term, index, stream, payload, err := parseFrame(b)
		if err != nil {
			return fmt.Errorf("commitlog: entries of %s at %d: %w", s.path, sc.pos, err)
		}
		info := EntryInfo{Seq: seq, Pos: sc.pos, Size: int32(len(b)), Term: term, Index: index, Stream: stream}
		if err := fn(info, payload[:min(len(payload), max(l.opts.IndexPrefix, 0))]); err != nil {
			return err
		}
		sc.pos += int64(len(b))
	}
}
