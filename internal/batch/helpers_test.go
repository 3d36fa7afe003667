package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The helpers here build batches independently of the code under test:
// records and headers are encoded by franz-go's kmsg, and records sections
// are compressed by calling the codec libraries directly.

// codecs lists every codec, for table tests.
var codecs = []Compression{None, Gzip, Snappy, LZ4, Zstd}

// kRecord encodes one record with kmsg, computing its length prefix.
func kRecord(tsDelta int64, offsetDelta int32, key, value []byte, headers ...kmsg.Header) []byte {
	r := kmsg.Record{TimestampDelta64: tsDelta, OffsetDelta: offsetDelta, Key: key, Value: value, Headers: headers}
	body := len(r.AppendTo(nil)) - 1 // Length 0 encodes as one byte
	r.Length = int32(body)
	return r.AppendTo(nil)
}

// kRecords encodes records i = 0..n-1 with keys "k<i>", values "value <i>"
// and timestamp deltas i.
func kRecords(n int) []byte {
	var out []byte
	for i := range n {
		out = append(out, kRecord(int64(i), int32(i), fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "value %d", i))...)
	}
	return out
}

// libCompress compresses a records section with the codec library itself.
func libCompress(t testing.TB, c Compression, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case None:
		return src
	case Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(src)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case Snappy:
		return snappy.Encode(nil, src)
	case LZ4:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case Zstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil)
	default:
		t.Fatalf("codec %d", c)
	}
	return buf.Bytes()
}

// libDecompress undoes libCompress, with the libraries.
func libDecompress(t testing.TB, c Compression, src []byte) []byte {
	t.Helper()
	var out []byte
	var err error
	switch c {
	case None:
		return src
	case Gzip:
		var r *gzip.Reader
		if r, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			var buf bytes.Buffer
			_, err = buf.ReadFrom(r)
			out = buf.Bytes()
		}
	case Snappy:
		out, err = xerial.Decode(src)
	case LZ4:
		var buf bytes.Buffer
		_, err = buf.ReadFrom(lz4.NewReader(bytes.NewReader(src)))
		out = buf.Bytes()
	case Zstd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil); err == nil {
			out, err = d.DecodeAll(src, nil)
			d.Close()
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return out
}

// kBatch assembles a batch with kmsg from a header template and an encoded
// (possibly compressed) records section, setting batchLength and the CRC.
func kBatch(h kmsg.RecordBatch, section []byte) []byte {
	h.Magic = 2
	h.Records = section
	h.Length = int32(MinBatchLength + len(section))
	b := h.AppendTo(nil)
	fixCRC(b)
	return b
}

// kHeader returns a header template for n records with kmsg's field names:
// no producer, baseTimestamp 1000, maxTimestamp 1000+n-1.
func kHeader(n int32, c Compression) kmsg.RecordBatch {
	return kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Attributes:           int16(c),
		LastOffsetDelta:      n - 1,
		FirstTimestamp:       1000,
		MaxTimestamp:         1000 + int64(n) - 1,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           n,
	}
}

// fixCRC recomputes a batch's CRC after a test edits it.
func fixCRC(b []byte) {
	sum := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(b[17:], sum)
}

// collect decodes a batch into copies of its records.
func collect(t testing.TB, b []byte) []Record {
	t.Helper()
	var out []Record
	err := Records(b, func(r *Record) error {
		out = append(out, cloneRecord(*r))
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	return out
}

func cloneRecord(r Record) Record {
	c := Record{Offset: r.Offset, Timestamp: r.Timestamp, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	return c
}

// sameBytes compares two nullable byte strings: nil (null) differs from
// empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// diffRecord returns "" if a and b are equal, else what differs.
func diffRecord(a, b Record) string {
	var d []string
	if a.Offset != b.Offset {
		d = append(d, fmt.Sprintf("offset %d != %d", a.Offset, b.Offset))
	}
	if a.Timestamp != b.Timestamp {
		d = append(d, fmt.Sprintf("timestamp %d != %d", a.Timestamp, b.Timestamp))
	}
	if !sameBytes(a.Key, b.Key) {
		d = append(d, fmt.Sprintf("key %q (nil %v) != %q (nil %v)", trunc(a.Key), a.Key == nil, trunc(b.Key), b.Key == nil))
	}
	if !sameBytes(a.Value, b.Value) {
		d = append(d, fmt.Sprintf("value %q (nil %v) != %q (nil %v)", trunc(a.Value), a.Value == nil, trunc(b.Value), b.Value == nil))
	}
	if len(a.Headers) != len(b.Headers) {
		d = append(d, fmt.Sprintf("%d headers != %d", len(a.Headers), len(b.Headers)))
	} else {
		for i := range a.Headers {
			if a.Headers[i].Key != b.Headers[i].Key || !sameBytes(a.Headers[i].Value, b.Headers[i].Value) {
				d = append(d, fmt.Sprintf("header %d: %+v != %+v", i, a.Headers[i], b.Headers[i]))
			}
		}
	}
	return strings.Join(d, "; ")
}

func trunc(b []byte) []byte {
	if len(b) > 20 {
		return b[:20]
	}
	return b
}

// checkErr asserts err is a *ValidationError wrapping want, for field,
// whose message names the field.
func checkErr(t testing.TB, err, want error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v on %s", want, field)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %v", err, want)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %q (%T) is not a *ValidationError", err, err)
	}
	if ve.Field != field {
		t.Fatalf("error %q: Field %q, want %q", err, ve.Field, field)
	}
	if !strings.Contains(err.Error(), field) {
		t.Fatalf("error %q does not name field %q", err, field)
	}
	if !strings.HasPrefix(err.Error(), "batch: ") {
		t.Fatalf("error %q lacks the package prefix", err)
	}
}
