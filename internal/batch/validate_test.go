package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// put helpers edit a header field in place (the CRC is then stale).
func put16(b []byte, off int, v int16) { binary.BigEndian.PutUint16(b[off:], uint16(v)) }
func put32(b []byte, off int, v int32) { binary.BigEndian.PutUint32(b[off:], uint32(v)) }
func put64(b []byte, off int, v int64) { binary.BigEndian.PutUint64(b[off:], uint64(v)) }

// TestValidateRejects: every reason Validate rejects a batch, each with a
// batch crafted to break exactly that rule, the sentinel it must wrap and
// the field its error must name.
func TestValidateRejects(t *testing.T) {
	valid := func() []byte { return kBatch(kHeader(3, None), kRecords(3)) }
	withRecords := func(n int32, recs ...[]byte) []byte {
		return kBatch(kHeader(n, None), bytes.Join(recs, nil))
	}
	rec := func(delta int32) []byte { return kRecord(0, delta, []byte("k"), []byte("v")) }
	compressed := func(c Compression, section []byte, n int32) []byte {
		return kBatch(kHeader(n, c), libCompress(t, c, section))
	}
	zeros := make([]byte, 2<<20)
	bomb := kRecord(0, 0, nil, zeros) // one 2 MiB record, compresses to almost nothing

	tests := []struct {
		name  string
		b     []byte
		opts  ValidateOptions
		want  error
		field string
		msg   string // a further substring the message must hold
	}{
		{name: "larger than MaxBytes", b: valid(), opts: ValidateOptions{MaxBytes: 100},
			want: ErrTooLarge, field: "batchLength", msg: "limit of 100 bytes"},
		{name: "shorter than the log overhead", b: make([]byte, 11),
			want: ErrCorrupt, field: "batchLength", msg: "11 bytes"},
		{name: "batchLength one more than the bytes", b: func() []byte {
			b := valid()
			put32(b, 8, int32(len(b)-12+1))
			return b
		}(), want: ErrCorrupt, field: "batchLength", msg: "does not match"},
		{name: "batchLength one less than the bytes", b: func() []byte {
			b := valid()
			put32(b, 8, int32(len(b)-12-1))
			return b
		}(), want: ErrCorrupt, field: "batchLength", msg: "does not match"},
		{name: "magic 1", b: func() []byte { b := valid(); b[16] = 1; return b }(),
			want: ErrUnsupported, field: "magic", msg: "magic 1"},
		{name: "magic 0 short message set", b: func() []byte {
			b := make([]byte, 30) // a v0 message is shorter than a v2 header
			put32(b, 8, 18)
			return b
		}(), want: ErrUnsupported, field: "magic", msg: "magic 0"},
		{name: "batchLength below 49", b: func() []byte {
			b := make([]byte, 40)
			put32(b, 8, 28)
			b[16] = 2
			return b
		}(), want: ErrCorrupt, field: "batchLength", msg: "minimum 49"},
		{name: "crc mismatch from a damaged value", b: func() []byte {
			b := valid()
			b[len(b)-2] ^= 0xff
			return b
		}(), want: ErrCorrupt, field: "crc", msg: "crc mismatch: stored 0x"},
		{name: "crc mismatch from a damaged producerId", b: func() []byte {
			b := valid()
			put64(b, 43, 7)
			return b
		}(), want: ErrCorrupt, field: "crc", msg: "computed 0x"},
		{name: "unknown codec 5", b: func() []byte {
			b := valid()
			put16(b, 21, 5)
			fixCRC(b)
			return b
		}(), want: ErrUnsupported, field: "attributes", msg: "codec 5"},
		{name: "unknown codec 7 with flags", b: func() []byte {
			b := valid()
			put16(b, 21, 0x17)
			fixCRC(b)
			return b
		}(), want: ErrUnsupported, field: "attributes", msg: "0x0017"},
		{name: "no records", b: func() []byte {
			h := kHeader(0, None)
			h.MaxTimestamp = h.FirstTimestamp
			return kBatch(h, nil)
		}(), want: ErrInvalid, field: "recordCount", msg: "recordCount 0"},
		{name: "negative recordCount", b: func() []byte {
			b := valid()
			put32(b, 57, -3)
			fixCRC(b)
			return b
		}(), want: ErrInvalid, field: "recordCount", msg: "recordCount -3"},
		{name: "lastOffsetDelta too small", b: func() []byte {
			b := valid()
			put32(b, 23, 1)
			fixCRC(b)
			return b
		}(), want: ErrInvalid, field: "lastOffsetDelta", msg: "lastOffsetDelta 1 does not match recordCount 3 (want 2)"},
		{name: "maxTimestamp before baseTimestamp", b: func() []byte {
			b := valid()
			put64(b, 35, 999)
			fixCRC(b)
			return b
		}(), want: ErrInvalid, field: "maxTimestamp", msg: "maxTimestamp 999 is before baseTimestamp 1000"},
		{name: "control batch from a producer", b: func() []byte {
			h := kHeader(3, None)
			h.Attributes |= 0x20
			return kBatch(h, kRecords(3))
		}(), want: ErrInvalid, field: "attributes", msg: "control"},
		{name: "transactional without producer", b: func() []byte {
			h := kHeader(3, None)
			h.Attributes |= 0x10
			return kBatch(h, kRecords(3))
		}(), want: ErrInvalid, field: "producerId", msg: "producerId -1"},
		{name: "fewer records than recordCount", b: withRecords(3, rec(0), rec(1)),
			want: ErrCorrupt, field: "records", msg: "after 2 records"},
		{name: "more records than recordCount", b: withRecords(2, rec(0), rec(1), rec(2)),
			want: ErrCorrupt, field: "records", msg: "bytes after the last of recordCount 2"},
		{name: "offset deltas skip", b: withRecords(3, rec(0), rec(2), rec(1)),
			want: ErrInvalid, field: "records", msg: "record 1 has offsetDelta 2, want 1"},
		{name: "offset deltas repeat", b: withRecords(2, rec(0), rec(0)),
			want: ErrInvalid, field: "records", msg: "record 1 has offsetDelta 0"},
		{name: "record length past the section", b: func() []byte {
			r := rec(0)
			r[0] = 2 * 50 // zigzag length 50, only 8 bytes follow
			return withRecords(1, r)
		}(), want: ErrCorrupt, field: "records", msg: "length 50 out of range"},
		{name: "record length zero", b: withRecords(1, []byte{0}),
			want: ErrCorrupt, field: "records", msg: "length 0"},
		{name: "record length longer than its fields", b: func() []byte {
			r := rec(0)
			r[0] += 2 // one more byte, supplied below
			return withRecords(1, append(r, 0))
		}(), want: ErrCorrupt, field: "records", msg: "its fields take"},
		{name: "key length past the record", b: withRecords(1, []byte{2 * 4, 0, 0, 0, 2 * 9, 'a', 'b', 0}),
			want: ErrCorrupt, field: "records", msg: "key"},
		{name: "key length -2", b: withRecords(1, []byte{2 * 6, 0, 0, 0, 3, 0, 0}),
			want: ErrCorrupt, field: "records", msg: "key"},
		{name: "value length past the record", b: withRecords(1, []byte{2 * 6, 0, 0, 0, 1, 2 * 5, 0}),
			want: ErrCorrupt, field: "records", msg: "value"},
		{name: "negative header count", b: withRecords(1, []byte{2 * 6, 0, 0, 0, 1, 1, 3}),
			want: ErrCorrupt, field: "records", msg: "headerCount"},
		{name: "null header key", b: withRecords(1, []byte{2 * 8, 0, 0, 0, 1, 1, 2, 1, 1}),
			want: ErrCorrupt, field: "records", msg: "header key"},
		{name: "header value past the record", b: withRecords(1, []byte{2 * 8, 0, 0, 0, 1, 1, 2, 0, 2 * 5}),
			want: ErrCorrupt, field: "records", msg: "header value"},
		{name: "varint longer than 5 bytes", b: withRecords(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
			want: ErrCorrupt, field: "records", msg: "malformed length"},
		{name: "varlong longer than 10 bytes", b: withRecords(1, append([]byte{2 * 17, 0},
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 1, 0, 0)),
			want: ErrCorrupt, field: "records", msg: "timestampDelta"},
		{name: "deep: gzip that is not gzip", b: kBatch(kHeader(3, Gzip), []byte("definitely not gzip")),
			opts: ValidateOptions{DeepCompressed: true}, want: ErrCorrupt, field: "records", msg: "gzip decompression failed"},
		{name: "deep: truncated lz4 frame", b: func() []byte {
			s := libCompress(t, LZ4, kRecords(3))
			return kBatch(kHeader(3, LZ4), s[:len(s)-6])
		}(), opts: ValidateOptions{DeepCompressed: true}, want: ErrCorrupt, field: "records", msg: "lz4"},
		{name: "deep: snappy block claiming a huge size", b: kBatch(kHeader(1, Snappy), []byte{0x81, 0x80, 0x80, 0x80, 0x01, 0}),
			opts: ValidateOptions{DeepCompressed: true}, want: ErrTooLarge, field: "records", msg: "snappy"},
		{name: "deep: zstd bomb", b: compressed(Zstd, bomb, 1),
			opts: ValidateOptions{DeepCompressed: true, MaxDecompressed: 1 << 20}, want: ErrTooLarge, field: "records", msg: "1048576"},
		{name: "deep: gzip bomb", b: compressed(Gzip, bomb, 1),
			opts: ValidateOptions{DeepCompressed: true, MaxDecompressed: 1 << 20}, want: ErrTooLarge, field: "records", msg: "gzip"},
		{name: "deep: lz4 bomb", b: compressed(LZ4, bomb, 1),
			opts: ValidateOptions{DeepCompressed: true, MaxDecompressed: 1 << 20}, want: ErrTooLarge, field: "records", msg: "lz4"},
		{name: "deep: snappy bomb", b: compressed(Snappy, bomb, 1),
			opts: ValidateOptions{DeepCompressed: true, MaxDecompressed: 1 << 20}, want: ErrTooLarge, field: "records", msg: "snappy"},
		{name: "deep: zstd with offset deltas out of order", b: compressed(Zstd, bytes.Join([][]byte{rec(1), rec(0)}, nil), 2),
			opts: ValidateOptions{DeepCompressed: true}, want: ErrInvalid, field: "records", msg: "record 0 has offsetDelta 1"},
		{name: "deep: snappy with a missing record", b: compressed(Snappy, rec(0), 2),
			opts: ValidateOptions{DeepCompressed: true}, want: ErrCorrupt, field: "records", msg: "after 1 records"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(tc.b, tc.opts)
			checkErr(t, err, tc.want, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			for _, other := range []error{ErrCorrupt, ErrInvalid, ErrTooLarge, ErrUnsupported, ErrTruncated} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %q also wraps %v", err, other)
				}
			}
		})
	}
}

// TestValidateAccepts: batches at the edges of the rules pass, and
// Validate returns their header.
func TestValidateAccepts(t *testing.T) {
	logAppend := kHeader(3, None)
	logAppend.Attributes |= 0x08
	logAppend.MaxTimestamp = 5 // before baseTimestamp: fine under LogAppendTime
	control := kHeader(1, None)
	control.Attributes |= 0x20 | 0x10
	control.ProducerID, control.ProducerEpoch = 9, 1
	txn := kHeader(3, None)
	txn.Attributes |= 0x10
	txn.ProducerID, txn.ProducerEpoch, txn.FirstSequence = 4, 0, 0
	noTS := kHeader(1, None)
	noTS.FirstTimestamp, noTS.MaxTimestamp = -1, -1
	marker := kRecord(0, 0, []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 0})

	tests := []struct {
		name string
		b    []byte
		opts ValidateOptions
	}{
		{"plain", kBatch(kHeader(3, None), kRecords(3)), ValidateOptions{}},
		{"exactly MaxBytes", kBatch(kHeader(3, None), kRecords(3)), ValidateOptions{MaxBytes: len(kBatch(kHeader(3, None), kRecords(3)))}},
		{"LogAppendTime with maxTimestamp < baseTimestamp", kBatch(logAppend, kRecords(3)), ValidateOptions{}},
		{"control batch when allowed", kBatch(control, marker), ValidateOptions{AllowControl: true}},
		{"transactional with producer", kBatch(txn, kRecords(3)), ValidateOptions{}},
		{"no timestamps (-1)", kBatch(noTS, kRecords(1)), ValidateOptions{}},
		{"compressed garbage, shallow", kBatch(kHeader(3, Zstd), []byte("not zstd")), ValidateOptions{}},
		{"one null-key null-value record", kBatch(kHeader(1, None), kRecord(0, 0, nil, nil)), ValidateOptions{}},
		{"unknown attribute bits 6-15", func() []byte {
			h := kHeader(3, None)
			h.Attributes |= 0x40 | -0x8000
			return kBatch(h, kRecords(3))
		}(), ValidateOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Validate(tc.b, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var k kmsg.RecordBatch
			if err := k.ReadFrom(tc.b); err != nil {
				t.Fatal(err)
			}
			if h.NumRecords != k.NumRecords || h.Attributes != k.Attributes || h.CRC != uint32(k.CRC) ||
				h.TotalSize() != len(tc.b) || h.MaxTimestamp != k.MaxTimestamp {
				t.Fatalf("header %+v disagrees with kmsg %+v", h, k)
			}
		})
	}
}

// TestNext splits concatenated batches and reports partial ones.
func TestNext(t *testing.T) {
	a := kBatch(kHeader(1, None), kRecords(1))
	b := kBatch(kHeader(2, None), kRecords(2))
	c := kBatch(kHeader(3, Gzip), libCompress(t, Gzip, kRecords(3)))
	all := bytes.Join([][]byte{a, b, c}, nil)

	var got [][]byte
	rest := all
	for {
		batch, r, err := Next(rest)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if cap(batch) != len(batch) {
			t.Fatalf("batch capacity %d not clipped to its length %d", cap(batch), len(batch))
		}
		if _, err := Validate(batch, ValidateOptions{DeepCompressed: true}); err != nil {
			t.Fatal(err)
		}
		got, rest = append(got, batch), r
	}
	if len(got) != 3 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || !bytes.Equal(got[2], c) {
		t.Fatalf("split into %d batches, not a, b, c", len(got))
	}

	// A fetch response may end inside a batch, even inside its first 12 bytes.
	for _, cut := range []int{1, 11, 12, 30, len(c) - 1} {
		partial := append(bytes.Clone(a), c[:cut]...)
		_, rest, err := Next(partial)
		if err != nil {
			t.Fatal(err)
		}
		batch, rest2, err := Next(rest)
		checkErr(t, err, ErrTruncated, "batchLength")
		if batch != nil || !bytes.Equal(rest2, rest) {
			t.Fatalf("cut %d: on error Next must return nil and the input", cut)
		}
	}

	neg := bytes.Clone(a)
	put32(neg, 8, -1)
	_, _, err := Next(neg)
	checkErr(t, err, ErrCorrupt, "batchLength")
}

func TestReadHeader(t *testing.T) {
	h := kHeader(3, Snappy)
	h.FirstOffset, h.PartitionLeaderEpoch = 1<<40, 7
	h.Attributes |= 0x18
	h.ProducerID, h.ProducerEpoch, h.FirstSequence = 12345, 3, 99
	b := kBatch(h, libCompress(t, Snappy, kRecords(3)))
	got, err := ReadHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 1 << 40, Length: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2,
		CRC: binary.BigEndian.Uint32(b[17:]), Attributes: 0x1a, LastOffsetDelta: 2,
		FirstTimestamp: 1000, MaxTimestamp: 1002, ProducerID: 12345, ProducerEpoch: 3,
		BaseSequence: 99, NumRecords: 3,
	}
	if got != want {
		t.Fatalf("ReadHeader\n got %+v\nwant %+v", got, want)
	}
	if got.Compression() != Snappy || !got.LogAppendTime() || !got.Transactional() || got.Control() {
		t.Fatalf("attribute accessors wrong for 0x%x", got.Attributes)
	}
	if got.LastOffset() != 1<<40+2 || got.TotalSize() != len(b) {
		t.Fatalf("LastOffset %d, TotalSize %d", got.LastOffset(), got.TotalSize())
	}
	_, err = ReadHeader(b[:60])
	checkErr(t, err, ErrTruncated, "batchLength")
}

func TestSetBaseOffsetAndEpoch(t *testing.T) {
	b := kBatch(kHeader(3, None), kRecords(3))
	SetBaseOffset(b, 1_000_000)
	SetPartitionLeaderEpoch(b, 42)
	h, err := Validate(b, ValidateOptions{})
	if err != nil {
		t.Fatalf("stamping outside the CRC broke the batch: %v", err)
	}
	if h.BaseOffset != 1_000_000 || h.PartitionLeaderEpoch != 42 || h.LastOffset() != 1_000_002 {
		t.Fatalf("header after stamping: %+v", h)
	}
	recs := collect(t, b)
	for i, r := range recs {
		if r.Offset != 1_000_000+int64(i) {
			t.Fatalf("record %d offset %d", i, r.Offset)
		}
	}
}

func TestSetMaxTimestampLogAppendTime(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			b := kBatch(kHeader(3, c), libCompress(t, c, kRecords(3)))
			SetMaxTimestampLogAppendTime(b, 777) // earlier than baseTimestamp 1000
			h, err := Validate(b, ValidateOptions{DeepCompressed: true})
			if err != nil {
				t.Fatal(err)
			}
			if !h.LogAppendTime() || h.MaxTimestamp != 777 || h.FirstTimestamp != 1000 || h.Compression() != c {
				t.Fatalf("header %+v", h)
			}
			for _, r := range collect(t, b) {
				if r.Timestamp != 777 {
					t.Fatalf("record %d timestamp %d, want the append time 777", r.Offset, r.Timestamp)
				}
			}
		})
	}
}

func TestCompressionString(t *testing.T) {
	want := []string{"none", "gzip", "snappy", "lz4", "zstd", "compression(5)"}
	for i, w := range want {
		if got := Compression(i).String(); got != w {
			t.Errorf("Compression(%d) = %q, want %q", i, got, w)
		}
	}
	if Compression(5).Valid() || !Zstd.Valid() {
		t.Error("Valid wrong")
	}
}

// TestDocExample checks the worked example in the package documentation.
func TestDocExample(t *testing.T) {
	want := []byte{0x12, 0x00, 0x00, 0x00, 0x02, 0x6b, 0x04, 0x68, 0x69, 0x00}
	if got := kRecord(0, 0, []byte("k"), []byte("hi")); !bytes.Equal(got, want) {
		t.Fatalf("kmsg encodes % x, doc says % x", got, want)
	}
	var bb Builder
	bb.Add(Record{Key: []byte("k"), Value: []byte("hi")})
	b, err := bb.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[HeaderSize:], want) {
		t.Fatalf("Builder encodes % x, doc says % x", b[HeaderSize:], want)
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	b := benchBatch(t, 100, 128)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Validate(b, ValidateOptions{MaxBytes: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Validate allocates %.1f times per call", allocs)
	}
}
