package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// This file holds the codecs. Encoders and decoders are costly to create
// (zstd's and gzip's hold large tables and windows), so they are pooled:
// every function here is safe for concurrent use and, at steady state,
// allocates little beyond the output it returns.

// appendWriter is an io.Writer appending to a slice; it lets stream
// encoders write straight into the caller's buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// streamWriter is a pooled stream encoder (gzip, lz4).
type streamWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// streamCompress runs src through a pooled stream encoder whose output is
// appended to dst through out.
func streamCompress(w streamWriter, out *appendWriter, dst, src []byte) ([]byte, error) {
	out.b = dst
	w.Reset(out)
	_, err := w.Write(src)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	dst, out.b = out.b, nil
	return dst, err
}

// compress appends the records section src compressed with c to dst.
func compress(c Compression, dst, src []byte) ([]byte, error) {
	out, err := compressRaw(c, dst, src)
	if err != nil {
		if _, ok := err.(*ValidationError); !ok {
			err = errf(ErrInvalid, "records", "records: %s compression failed: %v", c, err)
		}
	}
	return out, err
}

func compressRaw(c Compression, dst, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		e := gzipEncoders.Get().(*gzipEncoder)
		defer gzipEncoders.Put(e)
		return streamCompress(e.w, &e.out, dst, src)
	case Snappy:
		// A raw snappy block, as franz-go and librdkafka produce; Java
		// consumers' SnappyInputStream reads it as well as xerial framing.
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return dst, errf(ErrTooLarge, "records", "records: %d bytes too large for a snappy block", len(src))
		}
		dst = slices.Grow(dst, n)
		enc := s2.EncodeSnappy(dst[len(dst):len(dst)+n], src)
		return dst[:len(dst)+len(enc)], nil
	case LZ4:
		e := lz4Encoders.Get().(*lz4Encoder)
		defer lz4Encoders.Put(e)
		return streamCompress(e.w, &e.out, dst, src)
	case Zstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, errf(ErrUnsupported, "attributes", "attributes: unknown compression codec %d", int8(c))
}

type gzipEncoder struct {
	w   *gzip.Writer
	out appendWriter
}

var gzipEncoders = sync.Pool{New: func() any {
	e := new(gzipEncoder)
	e.w, _ = gzip.NewWriterLevel(&e.out, gzip.DefaultCompression)
	return e
}}

type lz4Encoder struct {
	w   *lz4.Writer
	out appendWriter
}

var lz4Encoders = sync.Pool{New: func() any {
	e := new(lz4Encoder)
	e.w = lz4.NewWriter(&e.out)
	// 64 KiB blocks, as Kafka's Java producer writes: small buffers, and
	// every LZ4 frame reader accepts them.
	_ = e.w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
	return e
}}

// zstdEncoder returns the shared zstd encoder; EncodeAll is safe for
// concurrent use and keeps its own pool of block encoders.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(0), zstd.WithZeroFrames(true))
	if err != nil {
		panic("batch: zstd encoder: " + err.Error())
	}
	return enc
})

// decompress appends the decompressed form of the records section src
// (compressed with c, not None) to dst. It fails with ErrTooLarge once the
// output would exceed limit bytes (0 means DefaultMaxDecompressed), so a
// small malicious batch cannot make it allocate without bound, and with
// ErrCorrupt if src does not decompress.
func decompress(c Compression, dst, src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxDecompressed
	}
	var err error
	switch c {
	case Gzip:
		d := gzipDecoders.Get().(*gzipDecoder)
		d.src.Reset(src)
		if err = d.r.Reset(&d.src); err == nil { // Reset also re-enables multistream
			dst, err = readLimited(&d.r, dst, len(src), limit)
		}
		d.src.Reset(nil)
		gzipDecoders.Put(d)
	case Snappy:
		dst, err = unsnappy(dst, src, limit)
	case LZ4:
		d := lz4Decoders.Get().(*lz4Decoder)
		d.src.Reset(src)
		d.r.Reset(&d.src)
		dst, err = readLimited(d.r, dst, len(src), limit)
		d.src.Reset(nil)
		d.r.Reset(nil)
		lz4Decoders.Put(d)
	case Zstd:
		d := zstdDecoders.Get().(*zstdDecoder)
		if d.limit != limit {
			err = d.d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(limit)))
			d.limit = limit
		}
		if err == nil {
			dst, err = d.d.DecodeAll(src, dst)
		}
		zstdDecoders.Put(d)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			err = errTooLarge
		}
	default:
		return dst, errf(ErrUnsupported, "attributes", "attributes: unknown compression codec %d", int8(c))
	}
	if err == errTooLarge {
		return dst, errf(ErrTooLarge, "records",
			"records: %s data decompresses to more than the limit of %d bytes", c, limit)
	}
	if err != nil {
		return dst, errf(ErrCorrupt, "records", "records: %s decompression failed: %v", c, err)
	}
	return dst, nil
}

// errTooLarge is the internal signal that decompression hit the limit.
var errTooLarge = errors.New("decompressed size limit exceeded")

type gzipDecoder struct {
	r   gzip.Reader
	src bytes.Reader
}

var gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}

type lz4Decoder struct {
	r   *lz4.Reader
	src bytes.Reader
}

var lz4Decoders = sync.Pool{New: func() any { return &lz4Decoder{r: lz4.NewReader(nil)} }}

type zstdDecoder struct {
	d     *zstd.Decoder
	limit int // the WithDecoderMaxMemory d has
}

var zstdDecoders = sync.Pool{New: func() any {
	// Concurrency 1: DecodeAll only, no goroutines, so a decoder dropped
	// by the pool needs no Close.
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(DefaultMaxDecompressed))
	if err != nil {
		panic("batch: zstd decoder: " + err.Error())
	}
	return &zstdDecoder{d: d, limit: DefaultMaxDecompressed}
}}

// readLimited appends everything r yields to dst, failing with errTooLarge
// once more than limit bytes came. It grows dst as data actually arrives,
// so memory follows the real output, not a size the input claims.
func readLimited(r io.Reader, dst []byte, srcLen, limit int) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, min(max(4*srcLen, 4096), 1<<20, limit+1))
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(cap(dst)-start, limit+1-(len(dst)-start)))
		}
		room := dst[len(dst):cap(dst)]
		if left := limit + 1 - (len(dst) - start); len(room) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// xerialMagic starts a snappy stream framed by snappy-java's
// SnappyOutputStream, which Kafka's Java producer uses: the magic, a
// big-endian int32 version (1) and a minimum compatible version (1), then
// blocks, each a big-endian int32 length and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16 // magic + version + compatible version

// snappyMaxRatio bounds the decoded/encoded size ratio of a genuine snappy
// block: its densest element, a 3-byte copy, yields 64 bytes. Checking the
// size a block claims against it first keeps a tiny forged block from
// making us allocate up to the limit.
const snappyMaxRatio = 22

// unsnappy appends the decoded form of src, a raw snappy block or an
// xerial-framed sequence of blocks, to dst, within limit bytes.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return unsnappyBlock(dst, src, limit)
	}
	if len(src) < xerialHeaderLen {
		return dst, errors.New("xerial snappy header truncated")
	}
	start := len(dst)
	p := xerialHeaderLen
	for p < len(src) {
		if len(src)-p < 4 {
			return dst, errors.New("xerial snappy block length truncated")
		}
		n := int64(binary.BigEndian.Uint32(src[p:]))
		p += 4
		if n > int64(len(src)-p) {
			return dst, errors.New("xerial snappy block runs past the end")
		}
		var err error
		if dst, err = unsnappyBlock(dst, src[p:p+int(n)], limit-(len(dst)-start)); err != nil {
			return dst, err
		}
		p += int(n)
	}
	return dst, nil
}

// unsnappyBlock appends the decoded raw snappy block src to dst, within
// limit bytes.
func unsnappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > limit {
		return dst, errTooLarge
	}
	if n > snappyMaxRatio*len(src)+64 {
		return dst, errors.New("snappy block claims an impossible decoded size")
	}
	dst = slices.Grow(dst, n)
	out, err := snappy.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst, err
	}
	if len(out) != n {
		return dst, errors.New("snappy block decoded to the wrong size")
	}
	return dst[:len(dst)+n], nil
}
