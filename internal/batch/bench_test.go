package batch

import "testing"

// benchBatch builds an uncompressed batch of n records with valueSize-byte
// values (no keys, no headers), as a producer of fixed-size events would.
func benchBatch(tb testing.TB, n, valueSize int) []byte {
	return codecBatch(tb, None, n, valueSize)
}

func codecBatch(tb testing.TB, c Compression, n, valueSize int) []byte {
	tb.Helper()
	var bb Builder
	bb.Reset(BuildOptions{Compression: c})
	value := make([]byte, valueSize)
	for i := range n {
		value[i%valueSize] = byte(i)
		bb.Add(Record{Timestamp: 1_700_000_000_000 + int64(i), Value: value})
	}
	b, err := bb.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkValidate1000x128(b *testing.B) {
	batch := benchBatch(b, 1000, 128)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(batch, ValidateOptions{MaxBytes: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuilder1000x128(b *testing.B) {
	var bb Builder
	value := make([]byte, 128)
	var dst []byte
	build := func() {
		bb.Reset(BuildOptions{})
		for i := range 1000 {
			bb.Add(Record{Timestamp: 1_700_000_000_000 + int64(i), Value: value})
		}
		var err error
		if dst, err = bb.AppendTo(dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	build() // steady state: the Builder's and dst's buffers have grown
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		build()
	}
}

func BenchmarkRecords1000x128(b *testing.B) {
	batch := benchBatch(b, 1000, 128)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	n := 0
	count := func(*Record) error { n++; return nil }
	for b.Loop() {
		if err := Records(batch, count); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodecs measures building and decoding 1000x128 batches with each
// codec; SetBytes counts the uncompressed batch.
func BenchmarkCodecs(b *testing.B) {
	raw := len(benchBatch(b, 1000, 128))
	for _, c := range codecs[1:] {
		b.Run("build/"+c.String(), func(b *testing.B) {
			var bb Builder
			value := make([]byte, 128)
			var dst []byte
			build := func() {
				bb.Reset(BuildOptions{Compression: c})
				for i := range 1000 {
					value[i%128] = byte(i)
					bb.Add(Record{Timestamp: int64(i), Value: value})
				}
				dst, _ = bb.AppendTo(dst[:0])
			}
			build()
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			for b.Loop() {
				build()
			}
		})
		b.Run("records/"+c.String(), func(b *testing.B) {
			batch := codecBatch(b, c, 1000, 128)
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			nop := func(*Record) error { return nil }
			for b.Loop() {
				if err := Records(batch, nop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
