package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// HeaderSize is the size in bytes of the fixed header that starts every
// batch: everything up to and including recordCount. The records follow it.
const HeaderSize = 61

// LogOverhead is the size of baseOffset and batchLength, the bytes that
// batchLength does not count. A batch's total size is LogOverhead +
// batchLength.
const LogOverhead = 12

// MinBatchLength is the smallest valid batchLength: the header after the
// log overhead (HeaderSize - LogOverhead) with no record bytes.
const MinBatchLength = HeaderSize - LogOverhead

// Magic is the only message format version this package accepts.
const Magic = 2

// Byte offsets of the header fields, from the first byte of the batch.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

// Attribute bits, in the attributes field.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// castagnoli is the CRC-32C table; hash/crc32 uses the SSE4.2 / ARMv8
// instructions when given this table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the CRC-32C a batch must carry: over the bytes from
// attributes to the end. b must be at least offAttributes bytes long.
func checksum(b []byte) uint32 {
	return crc32.Checksum(b[offAttributes:], castagnoli)
}

// Compression is the codec of a batch's records section, attributes bits 0-2.
type Compression int8

// The codecs Kafka defines. Values 5 to 7 are unassigned and rejected.
const (
	None   Compression = 0 // records stored as they are
	Gzip   Compression = 1 // RFC 1952 gzip stream
	Snappy Compression = 2 // raw snappy block, or xerial-framed snappy blocks
	LZ4    Compression = 3 // LZ4 frame format
	Zstd   Compression = 4 // Zstandard frame (RFC 8878)
)

// String returns the codec's Kafka name ("none", "gzip", "snappy", "lz4",
// "zstd"), or "compression(N)" for an unassigned value.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return "compression(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the five codecs Kafka defines.
func (c Compression) Valid() bool { return c >= None && c <= Zstd }

// Header is the decoded fixed header of a batch. Each field's comment gives
// its wire name and offset; the package documentation explains them.
type Header struct {
	BaseOffset           int64  // baseOffset @0: offset of the first record
	Length               int32  // batchLength @8: bytes after this field
	PartitionLeaderEpoch int32  // partitionLeaderEpoch @12
	Magic                int8   // magic @16: format version, 2
	CRC                  uint32 // crc @17: CRC-32C of bytes 21..end
	Attributes           int16  // attributes @21: codec and flags
	LastOffsetDelta      int32  // lastOffsetDelta @23
	FirstTimestamp       int64  // baseTimestamp @27, ms since the epoch
	MaxTimestamp         int64  // maxTimestamp @35, ms since the epoch
	ProducerID           int64  // producerId @43, -1 if none
	ProducerEpoch        int16  // producerEpoch @51, -1 if none
	BaseSequence         int32  // baseSequence @53, -1 if none
	NumRecords           int32  // recordCount @57
}

// Compression returns the codec of the records section (attributes bits 0-2).
func (h Header) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// LogAppendTime reports whether attributes bit 3 is set: the broker, not
// the producer, chose the timestamp, and every record's timestamp is
// MaxTimestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether attributes bit 4 is set: the batch is part
// of a transaction of producer ProducerID.
func (h Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether attributes bit 5 is set: the batch holds a
// transaction marker (commit or abort) rather than user records.
func (h Header) Control() bool { return h.Attributes&attrControl != 0 }

// LastOffset returns the offset of the batch's last record,
// BaseOffset + LastOffsetDelta. The next batch starts at LastOffset()+1.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// TotalSize returns the batch's size in bytes, LogOverhead + Length.
func (h Header) TotalSize() int { return LogOverhead + int(h.Length) }

// ReadHeader decodes the 61-byte header at the start of b without checking
// anything (no CRC, no magic, no length): it is for indexes rebuilt from
// bytes that were validated when stored. It fails only if len(b) < HeaderSize,
// with an error wrapping ErrTruncated.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, errf(ErrTruncated, "batchLength",
			"batchLength unreadable: header needs %d bytes, have %d", HeaderSize, len(b))
	}
	be := binary.BigEndian
	return Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}, nil
}

// Next splits the first batch off b, a concatenation of batches as in a
// Kafka produce request, a fetch response or a log segment. It reads only
// batchLength, so it works for any magic (the first 12 bytes are the same in
// every message format version); Validate checks the rest.
//
// The returned batch has its capacity clipped to its length, so appending
// to it cannot overwrite rest. Next returns io.EOF when b is empty, an error
// wrapping ErrTruncated when b holds only part of a batch (a fetch response
// may legitimately end so), and one wrapping ErrCorrupt when batchLength is
// negative. On error batch is nil and rest is b.
func Next(b []byte) (batch, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, io.EOF
	}
	if len(b) < LogOverhead {
		return nil, b, errf(ErrTruncated, "batchLength",
			"batchLength unreadable: %d bytes left, a batch starts with %d", len(b), LogOverhead)
	}
	n := int32(binary.BigEndian.Uint32(b[offLength:]))
	if n < 0 {
		return nil, b, errf(ErrCorrupt, "batchLength", "batchLength %d is negative", n)
	}
	total := LogOverhead + int(n)
	if total > len(b) {
		return nil, b, errf(ErrTruncated, "batchLength",
			"batchLength %d needs %d bytes, only %d left", n, total, len(b))
	}
	return b[:total:total], b[total:], nil
}

// SetBaseOffset writes base into the baseOffset field of batch b, in place.
// baseOffset is outside the CRC, so the batch stays valid. It panics if
// len(b) < 8.
func SetBaseOffset(b []byte, base int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:offBaseOffset+8], uint64(base))
}

// SetPartitionLeaderEpoch writes epoch into the partitionLeaderEpoch field
// of batch b, in place. The field is outside the CRC, so the batch stays
// valid. It panics if len(b) < 16.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:offLeaderEpoch+4], uint32(epoch))
}

// SetMaxTimestampLogAppendTime marks batch b as LogAppendTime (attributes
// bit 3), sets its maxTimestamp to ts (the broker's append time, ms since
// the epoch) and recomputes the CRC, in place, as a broker does for topics
// with message.timestamp.type=LogAppendTime. Readers then report ts as the
// timestamp of every record. baseTimestamp and the records are untouched.
// It panics if len(b) < HeaderSize.
func SetMaxTimestampLogAppendTime(b []byte, ts int64) {
	_ = b[HeaderSize-1]
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:])
	be.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], checksum(b))
}

// Sentinel errors. Every error this package produces is a *ValidationError
// wrapping exactly one of them (test with errors.Is). The exceptions are
// errors returned by a DecodeRecords callback, passed through unchanged,
// and the io.EOF with which Next reports an empty input.
var (
	// ErrCorrupt: the bytes are damaged: CRC mismatch, a length field that
	// disagrees with the bytes, a record running past the end, a
	// compressed stream that does not decompress.
	ErrCorrupt = errors.New("batch: corrupt")
	// ErrInvalid: the bytes are intact but break a rule of the format or
	// of producing (no records, lastOffsetDelta inconsistent, offset
	// deltas out of order, maxTimestamp before baseTimestamp, a control
	// batch from a producer).
	ErrInvalid = errors.New("batch: invalid")
	// ErrTooLarge: the batch exceeds ValidateOptions.MaxBytes, or its
	// records decompress to more than the configured bound.
	ErrTooLarge = errors.New("batch: too large")
	// ErrUnsupported: a message format other than magic 2, or an
	// unassigned compression codec (5-7).
	ErrUnsupported = errors.New("batch: unsupported")
	// ErrTruncated: the buffer ends inside a batch. Next returns it for a
	// partial trailing batch; a producer's request ending so is corrupt.
	ErrTruncated = errors.New("batch: truncated")
)

// ValidationError describes why bytes are not an acceptable batch. It wraps
// one of the sentinel errors (ErrCorrupt, ErrInvalid, ErrTooLarge,
// ErrUnsupported, ErrTruncated).
type ValidationError struct {
	// Field is the wire name of the offending field as the package
	// documentation spells it ("crc", "batchLength", "magic",
	// "attributes", "recordCount", "lastOffsetDelta", "maxTimestamp",
	// "producerId", or "records" for anything inside the records).
	Field string
	// Msg says what is wrong and with which values; it contains Field.
	Msg string
	// Err is the sentinel this error wraps.
	Err error
}

// Error returns "batch: " followed by Msg.
func (e *ValidationError) Error() string { return "batch: " + e.Msg }

// Unwrap returns the sentinel, for errors.Is.
func (e *ValidationError) Unwrap() error { return e.Err }

// errf builds a *ValidationError. It is only called on failure paths, so
// the formatting cost never touches a valid batch.
func errf(sentinel error, field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}
