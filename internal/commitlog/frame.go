package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// FrameHeaderSize is the size of an entry's frame before its payload.
const FrameHeaderSize = 32

// MaxEntrySize bounds one framed entry (header and payload).
const MaxEntrySize = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned when stored bytes fail their frame or CRC check.
var ErrCorrupt = errors.New("commitlog: corrupt entry")

// EntryInfo describes one entry in the log.
type EntryInfo struct {
	Seq    uint64 // segment the entry is in
	Pos    int64  // byte position of the entry's frame in the segment
	Size   int32  // framed size: FrameHeaderSize + len(payload)
	Term   uint64
	Index  uint64
	Stream uint64
	// Indexed is set when the entry was read from its segment's index file
	// (a trusted one, which stays on disk beside the segment), not from the
	// segment: SegmentEntries can hand it again without reading the
	// segment.
	Indexed bool
}

// payloadCRC is the first half of an entry's CRC; Append computes it before
// taking the log's lock.
func payloadCRC(payload []byte) uint32 { return crc32.Checksum(payload, castagnoli) }

// appendFrame appends a framed entry to dst; pcrc is payloadCRC(payload).
func appendFrame(dst []byte, term, index, stream uint64, payload []byte, pcrc uint32) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, FrameHeaderSize)...)
	h := dst[n : n+FrameHeaderSize]
	binary.LittleEndian.PutUint32(h[0:], uint32(FrameHeaderSize-8+len(payload)))
	binary.LittleEndian.PutUint64(h[8:], term)
	binary.LittleEndian.PutUint64(h[16:], index)
	binary.LittleEndian.PutUint64(h[24:], stream)
	binary.LittleEndian.PutUint32(h[4:], crc32.Update(pcrc, castagnoli, h[8:FrameHeaderSize]))
	return append(dst, payload...)
}

// parseFrame checks the framed entry at the start of b, which must hold at
// least the whole entry, and returns its fields and payload.
func parseFrame(b []byte) (term, index, stream uint64, payload []byte, err error) {
	if len(b) < FrameHeaderSize {
		return 0, 0, 0, nil, fmt.Errorf("%w: %d bytes, shorter than a frame header", ErrCorrupt, len(b))
	}
	length := int(binary.LittleEndian.Uint32(b[0:]))
	if length < FrameHeaderSize-8 || 8+length > len(b) {
		return 0, 0, 0, nil, fmt.Errorf("%w: length field %d does not fit %d bytes", ErrCorrupt, length, len(b))
	}
	body := b[8 : 8+length]
	got := crc32.Update(crc32.Checksum(body[FrameHeaderSize-8:], castagnoli), castagnoli, body[:FrameHeaderSize-8])
	if want := binary.LittleEndian.Uint32(b[4:]); got != want {
		return 0, 0, 0, nil, fmt.Errorf("%w: crc stored 0x%08x, computed 0x%08x", ErrCorrupt, want, got)
	}
	return binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:]),
		binary.LittleEndian.Uint64(b[24:]), body[FrameHeaderSize-8:], nil
}

// frameLength returns the framed size announced by the header at the start
// of b (8 + length field), or 0 if b holds zeros there (the clean end of a
// preallocated segment).
func frameLength(b []byte) int {
	return 8 + int(binary.LittleEndian.Uint32(b[0:]))
}
