package batch

import (
	"encoding/binary"
	"math"
	"slices"
)

// BuildOptions configures the batches a Builder makes.
type BuildOptions struct {
	// Compression is the codec of the records section.
	Compression Compression
	// Idempotent writes ProducerID, ProducerEpoch and BaseSequence into the
	// header. When false (the zero value) the header says "no producer":
	// producerId -1, producerEpoch -1, baseSequence -1, whatever the three
	// fields below hold.
	Idempotent    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// Builder builds one batch at a time from plain records, for producers that
// are not Kafka clients (the HTTP and embedded APIs):
//
//	var bb batch.Builder
//	bb.Reset(batch.BuildOptions{Compression: batch.Zstd})
//	bb.Add(batch.Record{Timestamp: now, Key: k, Value: v})
//	buf, err := bb.AppendTo(buf[:0])
//
// Add encodes each record at once into an internal buffer, so the caller's
// slices may be reused as soon as Add returns. A Builder is reusable: Reset
// keeps the buffers, so building uncompressed batches allocates nothing at
// steady state (given a dst with room). The zero Builder is ready to use
// with BuildOptions{}. A Builder is not safe for concurrent use.
//
// Timestamps are the caller's: the Builder never reads the clock. A record's
// Timestamp (ms since the epoch) is stored as given, 0 included; callers
// wanting "now" pass time.Now().UnixMilli(). The first record's timestamp
// becomes baseTimestamp and the largest becomes maxTimestamp.
type Builder struct {
	opts    BuildOptions
	n       int32  // records added
	firstTS int64  // baseTimestamp: the first record's
	maxTS   int64  // maxTimestamp
	recs    []byte // the encoded records, uncompressed
	err     error  // first error from Add, returned by AppendTo
}

// Reset discards the records added so far and sets the options for the
// next batch, keeping the internal buffers.
func (b *Builder) Reset(opts BuildOptions) {
	b.opts = opts
	b.n = 0
	b.firstTS, b.maxTS = 0, 0
	b.recs = b.recs[:0]
	b.err = nil
}

// Add appends a record. Its offset delta is its position (0 for the first);
// r.Offset is ignored. Key and Value nil mean null; header values likewise.
// Errors (more than math.MaxInt32 records, or a record over 2 GiB) are
// reported by AppendTo.
func (b *Builder) Add(r Record) {
	if b.err != nil {
		return
	}
	if b.n == math.MaxInt32 {
		b.err = errf(ErrTooLarge, "recordCount", "recordCount: a batch holds at most %d records", math.MaxInt32)
		return
	}
	if b.n == 0 {
		b.firstTS, b.maxTS = r.Timestamp, r.Timestamp
	}
	b.maxTS = max(b.maxTS, r.Timestamp)
	tsDelta := r.Timestamp - b.firstTS

	// The record's length prefix counts the bytes after it, so size the
	// fields first.
	size := 1 + varintLen(tsDelta) + varintLen(int64(b.n)) +
		bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		size += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	if size > math.MaxInt32 {
		b.err = errf(ErrTooLarge, "records", "records: record %d is %d bytes, more than 2 GiB", b.n, size)
		return
	}

	recs := slices.Grow(b.recs, varintLen(int64(size))+size)
	recs = binary.AppendVarint(recs, int64(size))
	recs = append(recs, 0) // attributes
	recs = binary.AppendVarint(recs, tsDelta)
	recs = binary.AppendVarint(recs, int64(b.n))
	recs = appendBytes(recs, r.Key)
	recs = appendBytes(recs, r.Value)
	recs = binary.AppendVarint(recs, int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		recs = binary.AppendVarint(recs, int64(len(h.Key)))
		recs = append(recs, h.Key...)
		recs = appendBytes(recs, h.Value)
	}
	b.recs = recs
	b.n++
}

// Len returns the number of records added since the last Reset.
func (b *Builder) Len() int { return int(b.n) }

// Build returns the batch in a new slice; see AppendTo.
func (b *Builder) Build() ([]byte, error) { return b.AppendTo(nil) }

// AppendTo appends the encoded batch to dst and returns the extended slice:
// baseOffset 0 (the log stamps it with SetBaseOffset), partitionLeaderEpoch
// -1, magic 2, the CRC set, the records compressed as configured. It fails
// with ErrInvalid if no record was added and with ErrTooLarge if the batch
// exceeds 2 GiB; dst is then returned unchanged. The Builder keeps its
// records: AppendTo may be called again.
func (b *Builder) AppendTo(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	if b.n == 0 {
		return dst, errf(ErrInvalid, "recordCount", "recordCount 0: add a record before building")
	}
	start := len(dst)
	out := slices.Grow(dst, HeaderSize+len(b.recs))[:start+HeaderSize]
	out, err := compress(b.opts.Compression, out, b.recs)
	if err != nil {
		return dst, err
	}
	length := len(out) - start - LogOverhead
	if length > math.MaxInt32 {
		return dst, errf(ErrTooLarge, "batchLength", "batchLength %d exceeds the int32 range", length)
	}
	producerID, producerEpoch, baseSequence := int64(-1), int16(-1), int32(-1)
	if b.opts.Idempotent {
		producerID, producerEpoch, baseSequence = b.opts.ProducerID, b.opts.ProducerEpoch, b.opts.BaseSequence
	}
	h := out[start:]
	be := binary.BigEndian
	be.PutUint64(h[offBaseOffset:], 0)
	be.PutUint32(h[offLength:], uint32(length))
	be.PutUint32(h[offLeaderEpoch:], math.MaxUint32) // -1
	h[offMagic] = Magic
	be.PutUint16(h[offAttributes:], uint16(b.opts.Compression)&attrCompressionMask)
	be.PutUint32(h[offLastOffsetDelta:], uint32(b.n-1))
	be.PutUint64(h[offFirstTimestamp:], uint64(b.firstTS))
	be.PutUint64(h[offMaxTimestamp:], uint64(b.maxTS))
	be.PutUint64(h[offProducerID:], uint64(producerID))
	be.PutUint16(h[offProducerEpoch:], uint16(producerEpoch))
	be.PutUint32(h[offBaseSequence:], uint32(baseSequence))
	be.PutUint32(h[offNumRecords:], uint32(b.n))
	be.PutUint32(h[offCRC:], checksum(h))
	return out, nil
}

// bytesLen returns the encoded size of a nullable byte string.
func bytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varintLen(int64(len(v))) + len(v)
}

// appendBytes appends a nullable byte string: a varint length (-1 for nil)
// and the bytes.
func appendBytes(dst, v []byte) []byte {
	if v == nil {
		return append(dst, 1) // zigzag(-1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}
