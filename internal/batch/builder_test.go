package batch

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy/xerial"
)

// roundTripRecords covers what a record can hold: null and empty keys and
// values, headers with null, empty and binary values, timestamps before the
// first, and 1 MiB values.
func roundTripRecords() []Record {
	big := bytes.Repeat([]byte("millrace"), 1<<17) // 1 MiB
	random := make([]byte, 1<<20)
	x := uint32(1)
	for i := range random { // xorshift: incompressible
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		random[i] = byte(x)
	}
	return []Record{
		{Timestamp: 1_700_000_000_000, Key: []byte("key"), Value: []byte("value")},
		{Timestamp: 1_700_000_000_005, Key: nil, Value: []byte("null key")},
		{Timestamp: 1_700_000_000_001, Key: []byte{}, Value: []byte{}},
		{Timestamp: 1_699_999_999_000, Key: []byte("null value"), Value: nil},
		{Timestamp: 1_700_000_000_002, Key: nil, Value: nil},
		{Timestamp: 1_700_000_000_003, Key: []byte("h"), Value: []byte("headers"), Headers: []RecordHeader{
			{Key: "trace", Value: []byte("abc")}, {Key: "null", Value: nil}, {Key: "empty", Value: []byte{}},
			{Key: "", Value: []byte{0, 0xff}},
		}},
		{Timestamp: 1_700_000_000_004, Key: []byte("big"), Value: big},
		{Timestamp: 1_700_000_000_004, Key: []byte("random"), Value: random},
		{Timestamp: 1_700_000_000_009, Value: []byte("last")},
	}
}

// TestBuilderRoundTrip: for every codec, Builder → Validate → Records gives
// back the records added, with offsets from SetBaseOffset.
func TestBuilderRoundTrip(t *testing.T) {
	in := roundTripRecords()
	var bb Builder
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			bb.Reset(BuildOptions{Compression: c})
			for _, r := range in {
				bb.Add(r)
			}
			if bb.Len() != len(in) {
				t.Fatalf("Len %d, want %d", bb.Len(), len(in))
			}
			b, err := bb.Build()
			if err != nil {
				t.Fatal(err)
			}
			SetBaseOffset(b, 42)
			h, err := Validate(b, ValidateOptions{DeepCompressed: true})
			if err != nil {
				t.Fatal(err)
			}
			if h.FirstTimestamp != in[0].Timestamp || h.MaxTimestamp != 1_700_000_000_009 ||
				h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.PartitionLeaderEpoch != -1 {
				t.Fatalf("header %+v", h)
			}
			if c != None && len(b) > 3<<20 {
				t.Errorf("%s batch is %d bytes: not compressed?", c, len(b))
			}
			out := collect(t, b)
			if len(out) != len(in) {
				t.Fatalf("%d records back, want %d", len(out), len(in))
			}
			for i := range in {
				want := in[i]
				want.Offset = 42 + int64(i)
				if d := diffRecord(out[i], want); d != "" {
					t.Fatalf("record %d: %s", i, d)
				}
			}
		})
	}
}

// TestBuilderReuse: Reset forgets the previous records, AppendTo can be
// repeated, and the caller's buffers may change after Add.
func TestBuilderReuse(t *testing.T) {
	var bb Builder
	bb.Reset(BuildOptions{Compression: Zstd})
	for i := range 10 {
		bb.Add(Record{Timestamp: int64(i), Value: fmt.Appendf(nil, "first %d", i)})
	}
	if _, err := bb.Build(); err != nil {
		t.Fatal(err)
	}

	bb.Reset(BuildOptions{})
	buf := []byte("original")
	bb.Add(Record{Timestamp: 7, Value: buf})
	copy(buf, "CHANGED!")
	one, err := bb.Build()
	if err != nil {
		t.Fatal(err)
	}
	two, _ := bb.AppendTo(nil)
	if !bytes.Equal(one, two) {
		t.Fatal("AppendTo twice gave different batches")
	}
	recs := collect(t, one)
	if len(recs) != 1 || string(recs[0].Value) != "original" || recs[0].Timestamp != 7 {
		t.Fatalf("after reuse: %+v", recs)
	}
}

func TestBuilderErrors(t *testing.T) {
	var bb Builder
	_, err := bb.Build()
	checkErr(t, err, ErrInvalid, "recordCount")

	bb.Reset(BuildOptions{Compression: 6})
	bb.Add(Record{Value: []byte("x")})
	dst := []byte("keep")
	out, err := bb.AppendTo(dst)
	checkErr(t, err, ErrUnsupported, "attributes")
	if string(out) != "keep" {
		t.Fatalf("failed AppendTo returned %q", out)
	}
}

// TestBuilderIdempotent: producer fields are written only when asked.
func TestBuilderIdempotent(t *testing.T) {
	var bb Builder
	bb.Reset(BuildOptions{Idempotent: true}) // producer 0, epoch 0, sequence 0 are real values
	bb.Add(Record{Value: []byte("x")})
	b, _ := bb.Build()
	h, err := Validate(b, ValidateOptions{})
	if err != nil || h.ProducerID != 0 || h.ProducerEpoch != 0 || h.BaseSequence != 0 {
		t.Fatalf("header %+v, %v", h, err)
	}
	bb.Reset(BuildOptions{ProducerID: 5, ProducerEpoch: 5, BaseSequence: 5})
	bb.Add(Record{Value: []byte("x")})
	b, _ = bb.Build()
	h, _ = ReadHeader(b)
	if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 {
		t.Fatalf("not idempotent, yet header %+v", h)
	}
}

func TestBuilderZeroAllocs(t *testing.T) {
	var bb Builder
	value := make([]byte, 128)
	hdrs := []RecordHeader{{Key: "h", Value: []byte("v")}}
	var dst []byte
	build := func() {
		bb.Reset(BuildOptions{})
		for i := range 100 {
			bb.Add(Record{Timestamp: int64(i), Key: value[:8], Value: value, Headers: hdrs})
		}
		var err error
		if dst, err = bb.AppendTo(dst[:0]); err != nil {
			t.Fatal(err)
		}
	}
	build() // grow the buffers
	if allocs := testing.AllocsPerRun(50, build); allocs != 0 {
		t.Fatalf("building an uncompressed batch allocates %.1f times", allocs)
	}
}

func TestRecordsAllocs(t *testing.T) {
	b := benchBatch(t, 100, 128)
	n := 0
	count := func(*Record) error { n++; return nil }
	Records(b, count)
	if allocs := testing.AllocsPerRun(50, func() { Records(b, count) }); allocs > 0.5 {
		t.Fatalf("decoding an uncompressed batch allocates %.1f times", allocs)
	}
}

// TestRecordsStops: an error from fn stops decoding and comes back as is.
func TestRecordsStops(t *testing.T) {
	b := kBatch(kHeader(3, Gzip), libCompress(t, Gzip, kRecords(3)))
	stop := errors.New("stop")
	calls := 0
	err := Records(b, func(*Record) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

// TestRecordsChecks: Records refuses what it cannot decode safely, and
// checks the CRC only when asked.
func TestRecordsChecks(t *testing.T) {
	nop := func(*Record) error { return nil }
	good := kBatch(kHeader(3, None), kRecords(3))

	bad := bytes.Clone(good)
	bad[len(bad)-2] ^= 1 // a value byte: still parses, CRC wrong
	if err := Records(bad, nop); err != nil {
		t.Fatalf("Records checked the CRC without being asked: %v", err)
	}
	checkErr(t, DecodeRecords(bad, DecodeOptions{VerifyCRC: true}, nop), ErrCorrupt, "crc")

	m := bytes.Clone(good)
	m[16] = 1
	checkErr(t, Records(m, nop), ErrUnsupported, "magic")
	checkErr(t, Records(good[:len(good)-1], nop), ErrCorrupt, "batchLength")
	checkErr(t, Records(kBatch(kHeader(4, None), kRecords(3)), nop), ErrCorrupt, "records")
	checkErr(t, Records(kBatch(kHeader(2, None), kRecords(3)), nop), ErrCorrupt, "records")

	neg := bytes.Clone(good)
	put32(neg, 57, -2)
	checkErr(t, Records(neg, nop), ErrCorrupt, "recordCount")

	codec := bytes.Clone(good)
	put16(codec, 21, 6)
	checkErr(t, Records(codec, nop), ErrUnsupported, "attributes")

	zeros := kRecord(0, 0, nil, make([]byte, 3<<20))
	bomb := kBatch(kHeader(1, Zstd), libCompress(t, Zstd, zeros))
	checkErr(t, DecodeRecords(bomb, DecodeOptions{MaxDecompressed: 1 << 20}, nop), ErrTooLarge, "records")
	if err := Records(bomb, nop); err != nil { // within the default bound
		t.Fatal(err)
	}
}

// TestCodecsConcurrent: the pooled encoders and decoders are safe to share.
func TestCodecsConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var bb Builder
			for i := range 30 {
				c := codecs[(g+i)%len(codecs)]
				bb.Reset(BuildOptions{Compression: c})
				for j := range 50 {
					bb.Add(Record{Timestamp: int64(j), Value: fmt.Appendf(nil, "g%d i%d j%d %0100d", g, i, j, j)})
				}
				b, err := bb.Build()
				if err == nil {
					_, err = Validate(b, ValidateOptions{DeepCompressed: true})
				}
				j := 0
				if err == nil {
					err = Records(b, func(r *Record) error {
						if want := fmt.Sprintf("g%d i%d j%d %0100d", g, i, j, j); string(r.Value) != want {
							return fmt.Errorf("%s: record %d is %q, want %q", c, j, r.Value, want)
						}
						j++
						return nil
					})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSnappyVariants: the snappy decoder takes raw blocks and xerial
// framing from either klauspost encoder, including the densest output
// (zeros), and rejects broken framing.
func TestSnappyVariants(t *testing.T) {
	section := kRecord(0, 0, nil, make([]byte, 4<<20))
	raw := libCompress(t, Snappy, section)
	fast := s2.EncodeSnappy(nil, section)
	framed := xerial.Encode(nil, section)
	for name, compressed := range map[string][]byte{"better": raw, "fast": fast, "xerial": framed} {
		b := kBatch(kHeader(1, Snappy), compressed)
		if _, err := Validate(b, ValidateOptions{DeepCompressed: true}); err != nil {
			t.Fatalf("%s (ratio %.1f): %v", name, float64(len(section))/float64(len(compressed)), err)
		}
	}

	hdr := framed[:16]
	broken := map[string][]byte{
		"header cut":           framed[:12],
		"block length cut":     append(bytes.Clone(hdr), 0, 0),
		"block past the end":   append(bytes.Clone(hdr), 0, 0, 1, 0, 1, 2),
		"no blocks, no record": bytes.Clone(hdr),
		"garbage block":        append(bytes.Clone(hdr), 0, 0, 0, 3, 0xff, 0xff, 0xff),
	}
	for name, compressed := range broken {
		b := kBatch(kHeader(1, Snappy), compressed)
		_, err := Validate(b, ValidateOptions{DeepCompressed: true})
		checkErr(t, err, ErrCorrupt, "records")
		t.Logf("%s: %v", name, err)
	}
}
