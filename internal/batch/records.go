package batch

import (
	"encoding/binary"
	"sync"
)

// RecordHeader is one key/value header of a record. Kafka does not allow a
// null key; a nil Value is a null value, distinct from an empty one.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a batch, with absolute offset and timestamp.
//
// A nil Key or Value is Kafka's null; a non-nil empty slice is an empty
// key or value. When decoding, Offset is baseOffset + offsetDelta and
// Timestamp is baseTimestamp + timestampDelta (ms since the epoch), or
// maxTimestamp for LogAppendTime batches. When building, Offset is ignored
// (records get offsets by position) and Timestamp is used as given.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// DefaultMaxDecompressed bounds the decompressed size of a batch's records
// when no other bound is configured: 256 MiB. A compressed batch claiming
// more fails with ErrTooLarge instead of exhausting memory.
const DefaultMaxDecompressed = 256 << 20

// DecodeOptions configures DecodeRecords.
type DecodeOptions struct {
	// MaxDecompressed bounds the decompressed size of the records, in
	// bytes; 0 means DefaultMaxDecompressed.
	MaxDecompressed int
	// VerifyCRC checks the CRC before decoding. Records skips it because
	// its input was validated when stored.
	VerifyCRC bool
}

// Records decodes every record of batch b and calls fn for each, in order,
// with DecodeOptions{}: see DecodeRecords.
func Records(b []byte, fn func(*Record) error) error {
	return DecodeRecords(b, DecodeOptions{}, fn)
}

// DecodeRecords decodes every record of batch b, decompressing the records
// section as needed (gzip, snappy raw or xerial-framed, LZ4 frame, zstd),
// and calls fn for each in order. An error from fn stops the decoding and
// is returned as is.
//
// The *Record and the slices in it (Key, Value, Headers, header values) may
// alias b or internal buffers and are valid only during the call to fn:
// copy what must outlive it. Header keys are freshly allocated strings and
// may be kept.
//
// DecodeRecords checks that b is a well-formed magic 2 batch as far as it
// reads it (batchLength, magic, codec, every length, the record count) and
// fails with a *ValidationError if not; it checks the CRC only if
// opts.VerifyCRC. Offset deltas are not required to be consecutive (a
// compacted batch keeps the original deltas). fn may have been called for
// earlier records before an error is found in a later one.
func DecodeRecords(b []byte, opts DecodeOptions, fn func(*Record) error) error {
	h, err := checkFrame(b)
	if err != nil {
		return err
	}
	if opts.VerifyCRC {
		if err := checkCRC(b, h); err != nil {
			return err
		}
	}
	if err := checkCodec(h); err != nil {
		return err
	}
	if h.NumRecords < 0 {
		return errf(ErrCorrupt, "recordCount", "recordCount %d is negative", h.NumRecords)
	}
	st := getDecodeState()
	defer putDecodeState(st)
	section := b[HeaderSize:]
	if c := h.Compression(); c != None {
		st.buf, err = decompress(c, st.buf[:0], section, opts.MaxDecompressed)
		if err != nil {
			return err
		}
		section = st.buf
	}
	var raw rawRecord
	rec := &st.rec
	i := 0
	for n := int32(0); n < h.NumRecords; n++ {
		if i, err = readRecord(section, i, n, &raw); err != nil {
			return err
		}
		rec.Offset = h.BaseOffset + int64(raw.offsetDelta)
		if h.LogAppendTime() {
			rec.Timestamp = h.MaxTimestamp
		} else {
			rec.Timestamp = h.FirstTimestamp + raw.timestampDelta
		}
		rec.Key, rec.Value = raw.key, raw.value
		rec.Headers = nil
		if raw.headerCount > 0 {
			st.hdrs = decodeHeaders(st.hdrs[:0], raw.headers)
			rec.Headers = st.hdrs
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if i != len(section) {
		return errf(ErrCorrupt, "records",
			"records: %d bytes after the last of recordCount %d records", len(section)-i, h.NumRecords)
	}
	return nil
}

// checkFrame decodes the header and checks what any reader needs before
// trusting the offsets in it: the header is complete, batchLength matches
// the buffer and magic is 2.
func checkFrame(b []byte) (Header, error) {
	if len(b) < LogOverhead {
		return Header{}, errf(ErrCorrupt, "batchLength",
			"batchLength unreadable: batch is %d bytes, shorter than %d", len(b), LogOverhead)
	}
	length := int32(binary.BigEndian.Uint32(b[offLength:]))
	if int64(length) != int64(len(b))-LogOverhead {
		return Header{}, errf(ErrCorrupt, "batchLength",
			"batchLength %d does not match the %d bytes after it", length, len(b)-LogOverhead)
	}
	if len(b) > offMagic && b[offMagic] != Magic {
		return Header{}, errf(ErrUnsupported, "magic",
			"magic %d not supported, only message format v2 (magic 2)", int8(b[offMagic]))
	}
	if length < MinBatchLength {
		return Header{}, errf(ErrCorrupt, "batchLength",
			"batchLength %d is less than the minimum %d", length, MinBatchLength)
	}
	h, _ := ReadHeader(b)
	return h, nil
}

// checkCodec rejects the unassigned compression codecs 5-7.
func checkCodec(h Header) error {
	if c := h.Compression(); !c.Valid() {
		return errf(ErrUnsupported, "attributes",
			"attributes 0x%04x: unknown compression codec %d", uint16(h.Attributes), int8(c))
	}
	return nil
}

// checkCRC compares the stored CRC with the one computed over b.
func checkCRC(b []byte, h Header) error {
	if sum := checksum(b); sum != h.CRC {
		return errf(ErrCorrupt, "crc", "crc mismatch: stored 0x%08x, computed 0x%08x", h.CRC, sum)
	}
	return nil
}

// rawRecord is one record as read by readRecord, with slices into the
// records section.
type rawRecord struct {
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte // nil for null
	headerCount    int32
	headers        []byte // the encoded headers, headerCount of them, already checked
}

// readRecord reads record number n (for messages) at section[i:] and
// returns the index just after it. Every length is checked against the
// bytes available, and the record's length prefix must equal the bytes its
// fields take. Headers are checked but not decoded (see decodeHeaders), so
// readRecord does not allocate.
func readRecord(section []byte, i int, n int32, r *rawRecord) (int, error) {
	if i >= len(section) {
		return i, errf(ErrCorrupt, "records",
			"records: end of records section reached after %d records, recordCount says more", n)
	}
	size, j := varint(section, i)
	if j < 0 {
		return i, errf(ErrCorrupt, "records", "records: record %d: malformed length varint", n)
	}
	if size <= 0 || int(size) > len(section)-j {
		return i, errf(ErrCorrupt, "records",
			"records: record %d: length %d out of range (%d bytes left)", n, size, len(section)-j)
	}
	end := j + int(size)
	rec := section[:end] // fields may not read past the record
	// attributes int8: unused by Kafka, not checked.
	p := j + 1
	if r.timestampDelta, p = varlong(rec, p); p < 0 {
		return i, recordErr(n, "timestampDelta")
	}
	if r.offsetDelta, p = varint(rec, p); p < 0 {
		return i, recordErr(n, "offsetDelta")
	}
	if r.key, p = readBytes(rec, p); p < 0 {
		return i, recordErr(n, "key")
	}
	if r.value, p = readBytes(rec, p); p < 0 {
		return i, recordErr(n, "value")
	}
	if r.headerCount, p = varint(rec, p); p < 0 || r.headerCount < 0 {
		return i, recordErr(n, "headerCount")
	}
	hstart := p
	for k := int32(0); k < r.headerCount; k++ {
		var key []byte
		if key, p = readBytes(rec, p); p < 0 || key == nil {
			return i, recordErr(n, "header key")
		}
		if _, p = readBytes(rec, p); p < 0 {
			return i, recordErr(n, "header value")
		}
	}
	r.headers = rec[hstart:p]
	if p != end {
		return i, errf(ErrCorrupt, "records",
			"records: record %d: length %d, but its fields take %d bytes", n, size, p-j)
	}
	return end, nil
}

func recordErr(n int32, what string) error {
	return errf(ErrCorrupt, "records", "records: record %d: %s malformed or past the record's end", n, what)
}

// decodeHeaders appends the headers encoded in b (checked by readRecord) to dst.
func decodeHeaders(dst []RecordHeader, b []byte) []RecordHeader {
	p := 0
	for p < len(b) {
		var key, value []byte
		key, p = readBytes(b, p)
		value, p = readBytes(b, p)
		dst = append(dst, RecordHeader{Key: string(key), Value: value})
	}
	return dst
}

// readBytes reads a varint length and that many bytes at b[i:]. Length -1
// gives a nil slice (null); other negative lengths, and lengths running
// past b, give next < 0. A zero length gives a non-nil empty slice.
func readBytes(b []byte, i int) (v []byte, next int) {
	n, i := varint(b, i)
	if i < 0 || n < -1 || int(n) > len(b)-i {
		return nil, -1
	}
	if n == -1 {
		return nil, i
	}
	return b[i : i+int(n) : i+int(n)], i + int(n)
}

// varint reads a zigzag-encoded int32 varint (at most 5 bytes) at b[i:]
// and returns it with the index after it; next < 0 if it is malformed or
// runs past b.
func varint(b []byte, i int) (v int32, next int) {
	// Inlined fast path: one byte holds -64..63.
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		c := uint32(b[i])
		return int32(c>>1) ^ -int32(c&1), i + 1
	}
	return varintSlow(b, i)
}

//go:noinline
func varintSlow(b []byte, i int) (v int32, next int) {
	var ux uint32
	for shift := uint(0); shift < 35; shift += 7 {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		i++
		if c < 0x80 {
			if shift == 28 && c > 0x0f {
				return 0, -1
			}
			ux |= uint32(c) << shift
			return int32(ux>>1) ^ -int32(ux&1), i
		}
		ux |= uint32(c&0x7f) << shift
	}
	return 0, -1
}

// varlong reads a zigzag-encoded int64 varint (at most 10 bytes) at b[i:]
// and returns it with the index after it; next < 0 if it is malformed.
func varlong(b []byte, i int) (v int64, next int) {
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		c := uint64(b[i])
		return int64(c>>1) ^ -int64(c&1), i + 1
	}
	return varlongSlow(b, i)
}

//go:noinline
func varlongSlow(b []byte, i int) (v int64, next int) {
	var ux uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				return 0, -1
			}
			ux |= uint64(c) << shift
			return int64(ux>>1) ^ -int64(ux&1), i
		}
		ux |= uint64(c&0x7f) << shift
	}
	return 0, -1
}

// varintLen returns the size of v as a zigzag varint.
func varintLen(v int64) int {
	ux := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for ux >= 0x80 {
		ux >>= 7
		n++
	}
	return n
}

// decodeState is the per-call scratch of DecodeRecords and deep
// validation, pooled so that steady-state decoding does not allocate.
type decodeState struct {
	buf  []byte // decompressed records
	rec  Record
	hdrs []RecordHeader
}

// maxPooledBuf is the largest decompression buffer kept for reuse; bigger
// ones are left to the garbage collector rather than pinned by the pool.
const maxPooledBuf = 8 << 20

var decodeStates = sync.Pool{New: func() any { return new(decodeState) }}

func getDecodeState() *decodeState { return decodeStates.Get().(*decodeState) }

func putDecodeState(st *decodeState) {
	if cap(st.buf) > maxPooledBuf {
		st.buf = nil
	}
	st.rec = Record{}
	clear(st.hdrs[:cap(st.hdrs)]) // drop references to caller memory
	st.hdrs = st.hdrs[:0]
	decodeStates.Put(st)
}
