package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
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
// from the first, so neither is stored. An index file is written only
// after its segment is sealed (synced and cut to size), to a temporary
// name, synced and renamed; Open trusts one only if its checksum, its
// count and its frame sizes add up to the segment file's size. Anything
// else (missing, torn, stale) and Open scans the segment as before, then
// writes the index file anew.
const (
	indexMagic      = "MRSIDX01"
	indexHeaderSize = 32
	indexRecordHead = 22
)

func indexName(seq uint64) string { return fmt.Sprintf("%020d.idx", seq) }

// appendIndexRecords appends an index record for each whole frame in
// frames (a chunk's bytes) to dst and returns it with the count.
func appendIndexRecords(dst, frames []byte, prefix int) ([]byte, int) {
	n := 0
	for len(frames) >= FrameHeaderSize {
		size := frameLength(frames)
		if size < FrameHeaderSize || size > len(frames) {
			break // cannot happen for frames this log framed
		}
		dst = appendIndexRecord(dst, frames[:size], prefix)
		frames = frames[size:]
		n++
	}
	return dst, n
}

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

// indexJob is a sealed segment's index file to write.
type indexJob struct {
	seq     uint64
	first   uint64 // index of its first entry
	count   int
	segSize int64
	records []byte
}

// encode returns the index file's bytes.
func (j indexJob) encode(prefix int) []byte {
	b := make([]byte, 0, indexHeaderSize+len(j.records)+4)
	b = append(b, indexMagic...)
	b = binary.LittleEndian.AppendUint64(b, j.first)
	b = binary.LittleEndian.AppendUint32(b, uint32(j.count))
	b = binary.LittleEndian.AppendUint16(b, uint16(prefix))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(j.segSize))
	b = append(b, j.records...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// writeIndex writes a sealed segment's index file: to a temporary name,
// synced, then renamed into place. A crash part way leaves a temporary
// file (removed by the next Open) or nothing; either way Open scans.
func (l *Log) writeIndex(j indexJob) error {
	final := l.indexPath(j.seq)
	tmp := final + ".tmp"
	_ = l.opts.FS.Remove(tmp) // left by a crash; absent is the usual case
	f, err := l.opts.FS.Create(tmp)
	if err != nil {
		return fmt.Errorf("commitlog: create index file %s: %w", tmp, err)
	}
	if _, err := f.Write(j.encode(l.opts.IndexPrefix)); err != nil {
		f.Close()
		l.opts.FS.Remove(tmp)
		return fmt.Errorf("commitlog: write index file %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		l.opts.FS.Remove(tmp)
		return fmt.Errorf("commitlog: sync index file %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		l.opts.FS.Remove(tmp)
		return fmt.Errorf("commitlog: close index file %s: %w", tmp, err)
	}
	if err := l.opts.FS.Rename(tmp, final); err != nil {
		l.opts.FS.Remove(tmp)
		return fmt.Errorf("commitlog: rename index file %s: %w", tmp, err)
	}
	return nil
}

func (l *Log) indexPath(seq uint64) string {
	return strings.TrimSuffix(l.path(seq), ".log") + ".idx"
}

// indexWriter is the goroutine that writes the index files of segments the
// flusher seals, so that a seal does not hold durable acknowledgements
// back behind another file's write and sync. Started by Open; it returns
// once Close has closed l.indexJobs after the flusher stopped. A failure is
// logged and costs only a scan at the next Open.
func (l *Log) indexWriter() {
	defer close(l.indexDone)
	for j := range l.indexJobs {
		if !l.segmentLive(j.seq) {
			continue // deleted by retention before its index was written
		}
		if err := l.writeIndex(j); err != nil {
			l.opts.Logger.Warn("segment index file not written; the next open scans the segment", "dir", l.opts.Dir, "segment", j.seq, "err", err)
			continue
		}
		if !l.segmentLive(j.seq) {
			// DeleteSegment ran while the file was written.
			l.opts.FS.Remove(l.indexPath(j.seq))
		}
	}
}

func (l *Log) segmentLive(seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[seq]
	return s != nil && !s.removed
}

// queueIndex hands a sealed segment's index records to the index writer,
// and drops them (logged) if it is far behind: a missing index file only
// costs a scan.
func (l *Log) queueIndex(s *segment) {
	j := indexJob{seq: s.seq, first: s.firstIndex, count: s.idxCount, segSize: s.size, records: s.idx}
	s.idx, s.idxCount = nil, 0
	select {
	case l.indexJobs <- j:
	default:
		l.opts.Logger.Warn("segment index writer behind; index file skipped, the next open scans the segment", "dir", l.opts.Dir, "segment", s.seq)
	}
}

// errNoIndex means a segment has no index file to replay from.
var errNoIndex = errors.New("no index file")

// loadIndex reads and checks seq's index file against the segment's size
// and the index its first entry must have (0: any). It returns the index
// job it holds, or why it cannot be trusted (errNoIndex if absent).
func (l *Log) loadIndex(seq uint64, segSize int64, expect uint64) (indexJob, error) {
	path := l.indexPath(seq)
	f, err := l.opts.FS.Open(path)
	if err != nil {
		return indexJob{}, errNoIndex
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return indexJob{}, fmt.Errorf("size of %s: %w", path, err)
	}
	if size < indexHeaderSize+4 || size > 1<<31 {
		return indexJob{}, fmt.Errorf("%s: %d bytes is not an index file's size", path, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return indexJob{}, fmt.Errorf("read %s: %w", path, err)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if string(body[:8]) != indexMagic {
		return indexJob{}, fmt.Errorf("%s: bad magic %q", path, body[:8])
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return indexJob{}, fmt.Errorf("%s: crc stored 0x%08x, computed 0x%08x", path, sum, got)
	}
	j := indexJob{
		seq:     seq,
		first:   binary.LittleEndian.Uint64(body[8:]),
		count:   int(binary.LittleEndian.Uint32(body[16:])),
		segSize: int64(binary.LittleEndian.Uint64(body[24:])),
		records: body[indexHeaderSize:],
	}
	if prefix := int(binary.LittleEndian.Uint16(body[20:])); prefix != l.opts.IndexPrefix {
		return indexJob{}, fmt.Errorf("%s: written with a prefix of %d bytes, %d wanted", path, prefix, l.opts.IndexPrefix)
	}
	if j.segSize != segSize {
		return indexJob{}, fmt.Errorf("%s: for a segment of %d bytes, the file has %d", path, j.segSize, segSize)
	}
	if expect != 0 && j.first != expect {
		return indexJob{}, fmt.Errorf("%s: first entry %d where %d was expected", path, j.first, expect)
	}
	// Walk the records once to check they are whole and cover the segment.
	var pos int64
	n := 0
	for r := j.records; len(r) > 0; n++ {
		if len(r) < indexRecordHead {
			return indexJob{}, fmt.Errorf("%s: record %d torn", path, n)
		}
		plen := int(binary.LittleEndian.Uint16(r[20:]))
		fsize := int64(binary.LittleEndian.Uint32(r[0:]))
		if plen > l.opts.IndexPrefix || len(r) < indexRecordHead+plen || fsize < FrameHeaderSize {
			return indexJob{}, fmt.Errorf("%s: record %d malformed", path, n)
		}
		pos += fsize
		r = r[indexRecordHead+plen:]
	}
	if n != j.count || pos != segSize {
		return indexJob{}, fmt.Errorf("%s: %d records covering %d bytes; header says %d records, the segment has %d bytes", path, n, pos, j.count, segSize)
	}
	return j, nil
}

// replayIndex replays a checked index file's entries, payloads cut to
// their stored prefix, and sets the segment's first and last index.
func (l *Log) replayIndex(s *segment, j indexJob, replay ReplayFunc, rep *Report) error {
	var pos int64
	index := j.first
	for r := j.records; len(r) > 0; index++ {
		size := int32(binary.LittleEndian.Uint32(r[0:]))
		plen := int(binary.LittleEndian.Uint16(r[20:]))
		info := EntryInfo{Seq: s.seq, Pos: pos, Size: size, Term: binary.LittleEndian.Uint64(r[4:]), Index: index, Stream: binary.LittleEndian.Uint64(r[12:])}
		if replay != nil {
			if err := replay(info, r[indexRecordHead:indexRecordHead+plen]); err != nil {
				return fmt.Errorf("commitlog: replay entry %d of %s (from its index file): %w", index, s.path, err)
			}
		}
		pos += int64(size)
		r = r[indexRecordHead+plen:]
		rep.Entries++
		rep.Bytes += int64(size)
	}
	if j.count > 0 {
		s.firstIndex, s.lastIndex = j.first, j.first+uint64(j.count)-1
	}
	rep.Indexed++
	return nil
}
