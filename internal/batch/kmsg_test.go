package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/snappy/xerial"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kmsgCase is a set of records expressed both as kmsg records (what a
// franz-go producer would encode) and as the Records this package must
// decode from them.
type kmsgCase struct {
	name string
	recs []kmsg.Record
}

func kmsgCases() []kmsgCase {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	return []kmsgCase{
		{"one", []kmsg.Record{{Key: []byte("k"), Value: []byte("v")}}},
		{"nulls and empties", []kmsg.Record{
			{Key: nil, Value: []byte("null key")},
			{Key: []byte{}, Value: []byte("empty key")},
			{Key: []byte("null value"), Value: nil},
			{Key: []byte("empty value"), Value: []byte{}},
			{Key: nil, Value: nil},
		}},
		{"headers", []kmsg.Record{
			{Key: []byte("a"), Value: []byte("1"), Headers: []kmsg.Header{{Key: "h1", Value: []byte("x")}}},
			{Value: []byte("2"), Headers: []kmsg.Header{
				{Key: "null", Value: nil}, {Key: "empty", Value: []byte{}}, {Key: "", Value: []byte("empty key")},
				{Key: "ünïcødé", Value: []byte{0, 1, 2, 255}},
			}},
		}},
		{"timestamps out of order", []kmsg.Record{
			{TimestampDelta64: 50, Value: []byte("later")},
			{TimestampDelta64: -20, Value: []byte("before the base")},
			{TimestampDelta64: 1 << 40, Value: []byte("far")},
		}},
		{"1 MiB value", []kmsg.Record{{Key: []byte("big"), Value: big}, {Value: []byte("small after big")}}},
		{"many", func() []kmsg.Record {
			var rs []kmsg.Record
			for i := range 500 {
				rs = append(rs, kmsg.Record{TimestampDelta64: int64(i), Key: fmt.Appendf(nil, "key-%d", i%7),
					Value: bytes.Repeat([]byte{byte(i)}, i)})
			}
			return rs
		}()},
	}
}

// encode encodes the case's records with kmsg (offset deltas by position)
// and returns the records section and the maximum timestamp delta.
func (c kmsgCase) encode() (section []byte, maxDelta int64) {
	for i, r := range c.recs {
		r.OffsetDelta = int32(i)
		body := len(r.AppendTo(nil)) - 1
		r.Length = int32(body)
		section = r.AppendTo(section)
		maxDelta = max(maxDelta, r.TimestampDelta64)
	}
	return section, maxDelta
}

// TestKmsgBatchesDecode: batches assembled by kmsg, with the records
// section compressed by the codec libraries themselves, validate and
// decode to exactly the records encoded.
func TestKmsgBatchesDecode(t *testing.T) {
	const base, firstTS = 5000, 1_700_000_000_000
	for _, tc := range kmsgCases() {
		section, maxDelta := tc.encode()
		variants := map[string][]byte{}
		for _, c := range codecs {
			variants[c.String()] = libCompress(t, c, section)
		}
		// The Java producer's framing: xerial blocks of 32 KiB.
		variants["snappy-xerial"] = xerial.Encode(nil, section)
		for name, compressed := range variants {
			c := Compression(0)
			for _, cc := range codecs {
				if name == cc.String() || name == "snappy-xerial" && cc == Snappy {
					c = cc
				}
			}
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				n := int32(len(tc.recs))
				h := kHeader(n, c)
				h.FirstOffset, h.FirstTimestamp, h.MaxTimestamp = base, firstTS, firstTS+maxDelta
				b := kBatch(h, compressed)
				for _, deep := range []bool{false, true} {
					got, err := Validate(b, ValidateOptions{DeepCompressed: deep})
					if err != nil {
						t.Fatalf("Validate(deep=%v): %v", deep, err)
					}
					if got.NumRecords != n || got.Compression() != c || got.BaseOffset != base {
						t.Fatalf("header %+v", got)
					}
				}
				recs := collect(t, b)
				if len(recs) != len(tc.recs) {
					t.Fatalf("decoded %d records, want %d", len(recs), len(tc.recs))
				}
				for i, k := range tc.recs {
					want := Record{Offset: base + int64(i), Timestamp: firstTS + k.TimestampDelta64, Key: k.Key, Value: k.Value}
					for _, kh := range k.Headers {
						want.Headers = append(want.Headers, RecordHeader{Key: kh.Key, Value: kh.Value})
					}
					if d := diffRecord(recs[i], want); d != "" {
						t.Fatalf("record %d: %s", i, d)
					}
				}
			})
		}
	}
}

// TestBuilderBatchesReadByKmsg: batches made by the Builder parse with
// kmsg.RecordBatch.ReadFrom, carry the right header and CRC, and their
// records section, decompressed by the libraries, parses with
// kmsg.Record.ReadFrom into the records added.
func TestBuilderBatchesReadByKmsg(t *testing.T) {
	for _, tc := range kmsgCases() {
		for _, c := range codecs {
			t.Run(tc.name+"/"+c.String(), func(t *testing.T) {
				const firstTS = 1_600_000_000_000
				var bb Builder
				bb.Reset(BuildOptions{Compression: c, Idempotent: true, ProducerID: 77, ProducerEpoch: 3, BaseSequence: 10})
				// The first record's timestamp becomes baseTimestamp.
				baseTS := firstTS + tc.recs[0].TimestampDelta64
				maxTS := baseTS
				for _, k := range tc.recs {
					r := Record{Offset: 999, Timestamp: firstTS + k.TimestampDelta64, Key: k.Key, Value: k.Value}
					for _, kh := range k.Headers {
						r.Headers = append(r.Headers, RecordHeader{Key: kh.Key, Value: kh.Value})
					}
					bb.Add(r)
					maxTS = max(maxTS, r.Timestamp)
				}
				b, err := bb.AppendTo([]byte("prefix"))
				if err != nil {
					t.Fatal(err)
				}
				if string(b[:6]) != "prefix" {
					t.Fatal("AppendTo clobbered dst")
				}
				b = b[6:]

				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil {
					t.Fatal(err)
				}
				n := int32(len(tc.recs))
				want := kmsg.RecordBatch{
					FirstOffset: 0, Length: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2,
					CRC:        int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))),
					Attributes: int16(c), LastOffsetDelta: n - 1, FirstTimestamp: baseTS, MaxTimestamp: maxTS,
					ProducerID: 77, ProducerEpoch: 3, FirstSequence: 10, NumRecords: n, Records: rb.Records,
				}
				if fmt.Sprint(rb) != fmt.Sprint(want) {
					t.Fatalf("kmsg reads header\n%+v\nwant\n%+v", rb, want)
				}
				section := libDecompress(t, c, rb.Records)
				for i, k := range tc.recs {
					size, m := binary.Varint(section)
					if m <= 0 || int(size)+m > len(section) {
						t.Fatalf("record %d: bad length prefix", i)
					}
					var kr kmsg.Record
					if err := kr.ReadFrom(section[:m+int(size)]); err != nil {
						t.Fatalf("record %d: %v", i, err)
					}
					section = section[m+int(size):]
					if kr.OffsetDelta != int32(i) || kr.TimestampDelta64 != firstTS+k.TimestampDelta64-baseTS ||
						!sameBytes(kr.Key, k.Key) || !sameBytes(kr.Value, k.Value) || len(kr.Headers) != len(k.Headers) {
						t.Fatalf("record %d: kmsg reads delta %d ts %d key %q value len %d, want %+v",
							i, kr.OffsetDelta, kr.TimestampDelta64, kr.Key, len(kr.Value), k)
					}
					for j := range k.Headers {
						if kr.Headers[j].Key != k.Headers[j].Key || !sameBytes(kr.Headers[j].Value, k.Headers[j].Value) {
							t.Fatalf("record %d header %d: %+v, want %+v", i, j, kr.Headers[j], k.Headers[j])
						}
					}
				}
				if len(section) != 0 {
					t.Fatalf("%d bytes after the last record", len(section))
				}
			})
		}
	}
}
