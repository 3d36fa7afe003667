package batch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy/xerial"
)

// fuzzLimit keeps decompression small under fuzzing, so that inputs the
// fuzzer inflates stay fast.
const fuzzLimit = 1 << 20

// fuzzSeeds returns valid batches of every codec, one with headers and
// nulls, a LogAppendTime and a control batch, and junk.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	var bb Builder
	for _, c := range codecs {
		bb.Reset(BuildOptions{Compression: c})
		for i := range 3 {
			bb.Add(Record{Timestamp: 1000 + int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
		}
		b, err := bb.Build()
		if err != nil {
			tb.Fatal(err)
		}
		seeds["valid-"+c.String()] = b
	}
	bb.Reset(BuildOptions{Idempotent: true, ProducerID: 1, ProducerEpoch: 2, BaseSequence: 3})
	bb.Add(Record{Timestamp: 5, Key: nil, Value: []byte{}, Headers: []RecordHeader{{Key: "h", Value: nil}, {Key: "", Value: []byte("x")}}})
	bb.Add(Record{Timestamp: 4, Key: []byte{}, Value: nil})
	b, _ := bb.Build()
	seeds["valid-headers-nulls"] = b

	lat, _ := bb.Build()
	SetMaxTimestampLogAppendTime(lat, 99)
	seeds["valid-logappendtime"] = lat

	ctl := kHeader(1, None)
	ctl.Attributes |= 0x30
	ctl.ProducerID = 7
	seeds["valid-control"] = kBatch(ctl, kRecord(0, 0, []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 0}))
	seeds["valid-xerial"] = kBatch(kHeader(3, Snappy), xerial.Encode(nil, kRecords(3)))

	seeds["junk-empty"] = []byte{}
	seeds["junk-short"] = []byte("not a batch")
	seeds["junk-header-only"] = kBatch(kHeader(1, None), nil)
	seeds["junk-bad-crc"] = func() []byte { b := kBatch(kHeader(3, None), kRecords(3)); b[30] ^= 1; return b }()
	seeds["junk-zstd-garbage"] = kBatch(kHeader(2, Zstd), []byte("\x28\xb5\x2f\xfd garbage"))
	return seeds
}

func addSeeds(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
}

// FuzzValidate: Validate never panics or hangs; its errors are
// *ValidationErrors naming their field and wrapping a sentinel; and what it
// accepts, Records decodes: every record of an uncompressed (or deeply
// validated) batch, or else an error, never a wrong count.
//
// Each input is checked as is and with its CRC corrected, so that the
// fuzzer's mutations reach the record parsing behind the CRC check.
func FuzzValidate(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		validateProperty(t, b)
		if len(b) > offAttributes {
			fixed := bytes.Clone(b)
			fixCRC(fixed)
			validateProperty(t, fixed)
		}
	})
}

func validateProperty(t *testing.T, b []byte) {
	t.Helper()
	for _, deep := range []bool{false, true} {
		h, err := Validate(b, ValidateOptions{DeepCompressed: deep, AllowControl: true, MaxDecompressed: fuzzLimit})
		if err != nil {
			checkSentinel(t, err)
			continue
		}
		// Validate walked the records of an uncompressed batch, and of a
		// compressed one when deep: those must decode, with consecutive
		// offsets. A shallowly validated compressed batch may still fail.
		walked := h.Compression() == None || deep
		n := int32(0)
		var bad error
		err = DecodeRecords(b, DecodeOptions{MaxDecompressed: fuzzLimit, VerifyCRC: true}, func(r *Record) error {
			if want := h.BaseOffset + int64(n); r.Offset != want && bad == nil {
				bad = fmt.Errorf("record %d has offset %d, want %d", n, r.Offset, want)
			}
			n++
			return nil
		})
		if err != nil {
			if walked {
				t.Fatalf("Validate(deep=%v) accepted, Records failed: %v", deep, err)
			}
			checkSentinel(t, err)
			continue
		}
		if n != h.NumRecords {
			t.Fatalf("Records decoded %d records, header says %d", n, h.NumRecords)
		}
		if walked && bad != nil {
			t.Fatalf("Validate(deep=%v) accepted, but %v", deep, bad)
		}
	}
}

// FuzzRecords: DecodeRecords never panics or hangs on any input; when it
// succeeds it has produced recordCount records, and those records survive
// a round trip through the Builder.
func FuzzRecords(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []Record
		err := DecodeRecords(b, DecodeOptions{MaxDecompressed: fuzzLimit}, func(r *Record) error {
			got = append(got, cloneRecord(*r))
			return nil
		})
		if err != nil {
			checkSentinel(t, err)
			return
		}
		h, _ := ReadHeader(b)
		if int32(len(got)) != h.NumRecords {
			t.Fatalf("decoded %d records, header says %d", len(got), h.NumRecords)
		}
		if len(got) == 0 || h.LogAppendTime() {
			return
		}
		var bb Builder
		bb.Reset(BuildOptions{Compression: h.Compression()})
		for _, r := range got {
			bb.Add(r)
		}
		rebuilt, err := bb.Build()
		if err != nil {
			t.Fatalf("Builder cannot rebuild decoded records: %v", err)
		}
		if _, err := Validate(rebuilt, ValidateOptions{DeepCompressed: true, AllowControl: true, MaxDecompressed: 4 * fuzzLimit}); err != nil {
			t.Fatalf("rebuilt batch invalid: %v", err)
		}
		i := 0
		err = Records(rebuilt, func(r *Record) error {
			want := got[i]
			want.Offset = int64(i)
			if d := diffRecord(*r, want); d != "" {
				return fmt.Errorf("record %d after rebuild: %s", i, d)
			}
			i++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// checkSentinel asserts err is a *ValidationError naming its field and
// wrapping one sentinel.
func checkSentinel(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %q (%T) is not a *ValidationError", err, err)
	}
	if ve.Field == "" || !strings.Contains(err.Error(), ve.Field) {
		t.Fatalf("error %q does not name its field %q", err, ve.Field)
	}
	n := 0
	for _, s := range []error{ErrCorrupt, ErrInvalid, ErrTooLarge, ErrUnsupported, ErrTruncated} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
}

// TestWriteFuzzCorpus regenerates the committed seed corpus under
// testdata/fuzz when MILLRACE_WRITE_FUZZ_CORPUS=1; otherwise it checks that
// the corpus is there.
func TestWriteFuzzCorpus(t *testing.T) {
	write := os.Getenv("MILLRACE_WRITE_FUZZ_CORPUS") == "1"
	for _, target := range []string{"FuzzValidate", "FuzzRecords"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if !write {
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) == 0 {
				t.Errorf("no seed corpus in %s (run with MILLRACE_WRITE_FUZZ_CORPUS=1): %v", dir, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range fuzzSeeds(t) {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
