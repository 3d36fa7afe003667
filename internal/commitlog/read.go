package commitlog

import (
	"fmt"
	"sort"
)

// ReadEntry reads the entry whose frame starts at pos in segment seq and is
// size bytes long, checks it, and returns its payload. The payload is read
// into buf (grown if needed) and aliases it. Entries not yet written, and
// recently written ones, are served from memory; older ones from the file.
func (l *Log) ReadEntry(seq uint64, pos int64, size int32, buf []byte) ([]byte, error) {
	if size < FrameHeaderSize {
		return nil, fmt.Errorf("commitlog: read segment %d at %d: size %d is smaller than a frame", seq, pos, size)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	l.mu.Lock()
	if l.copyFromMemLocked(seq, pos, buf) {
		l.mu.Unlock()
		return buf[FrameHeaderSize:], nil
	}
	s := l.segs[seq]
	if s == nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("commitlog: read segment %d at %d: segment not found (deleted by retention?)", seq, pos)
	}
	s.refs++
	l.mu.Unlock()
	_, err := s.file.ReadAt(buf, pos)
	l.release(s)
	if err != nil {
		return nil, fmt.Errorf("commitlog: read %d bytes at %d of %s: %w", size, pos, s.path, err)
	}
	_, _, _, payload, err := parseFrame(buf)
	if err != nil {
		return nil, fmt.Errorf("commitlog: read %s at %d: %w", s.path, pos, err)
	}
	return payload, nil
}

// copyFromMemLocked copies the bytes at (seq, pos) into buf if one chunk in
// memory holds all of them. Copying under the lock is what lets evicted
// chunk buffers be reused safely.
func (l *Log) copyFromMemLocked(seq uint64, pos int64, buf []byte) bool {
	i := sort.Search(len(l.mem), func(i int) bool {
		c := l.mem[i]
		return c.seq > seq || (c.seq == seq && c.pos+int64(len(c.buf)) > pos)
	})
	if i == len(l.mem) {
		return false
	}
	c := l.mem[i]
	if c.seq != seq || pos < c.pos || pos+int64(len(buf)) > c.pos+int64(len(c.buf)) {
		return false
	}
	copy(buf, c.buf[pos-c.pos:])
	return true
}

// release drops a reader's hold on a segment, closing the file of a deleted
// segment when its last reader is done.
func (l *Log) release(s *segment) {
	l.mu.Lock()
	s.refs--
	closeNow := s.removed && s.refs == 0
	l.mu.Unlock()
	if closeNow {
		s.file.Close()
	}
}
