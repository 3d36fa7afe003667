package kafka

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/millrace/millrace/internal/batch"
)

// The client tests share one workload: keyed records with headers, empty
// and large values, produced in a known order and checked on the way back
// (byte-identical, dense offsets, per-key order).

// wrec is a record as produced and as consumed.
type wrec struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   [][2]string // key, value
}

// largeValue is the size of the workload's one large value: about 1 MiB,
// under the 2 MiB max.message.bytes the test topics get.
const largeValue = 1 << 20

// workload returns n records with 10 keys, two headers each, an empty
// value every 25th and one value of largeValue bytes.
func workload(n int, seed uint64) []wrec {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]wrec, n)
	for i := range out {
		v := make([]byte, 16+rng.IntN(300))
		for j := range v {
			v[j] = byte('a' + rng.IntN(26)) // compressible, so codecs do work
		}
		switch {
		case i%25 == 7:
			v = []byte{}
		case i == n/2:
			v = make([]byte, largeValue)
			for j := range v {
				v[j] = byte(rng.IntN(256))
			}
		}
		out[i] = wrec{Key: fmt.Appendf(nil, "key-%d", i%10), Value: v,
			Headers: [][2]string{{"seq", fmt.Sprint(i)}, {"origin", "millrace-test"}}}
	}
	return out
}

// checkConsumed compares what was consumed with what was produced: every
// record once, byte-identical; each partition's offsets dense from 0; and
// each key's records in produce order.
func checkConsumed(t *testing.T, produced, consumed []wrec) {
	t.Helper()
	if len(consumed) != len(produced) {
		t.Fatalf("consumed %d records, produced %d", len(consumed), len(produced))
	}
	bySeq := make(map[string]wrec, len(consumed))
	next := make(map[int32]int64)
	lastSeqOfKey := make(map[string]int)
	for _, c := range consumed {
		if c.Offset != next[c.Partition] {
			t.Fatalf("partition %d: offset %d, want %d (offsets must be dense)", c.Partition, c.Offset, next[c.Partition])
		}
		next[c.Partition]++
		var seq string
		for _, h := range c.Headers {
			if h[0] == "seq" {
				seq = h[1]
			}
		}
		var n int
		fmt.Sscan(seq, &n)
		if last, ok := lastSeqOfKey[string(c.Key)]; ok && n <= last {
			t.Fatalf("key %s: record %d consumed after record %d", c.Key, n, last)
		}
		lastSeqOfKey[string(c.Key)] = n
		bySeq[seq] = c
	}
	for i, p := range produced {
		c, ok := bySeq[fmt.Sprint(i)]
		if !ok {
			t.Fatalf("record %d was not consumed", i)
		}
		if !bytes.Equal(c.Key, p.Key) || !bytes.Equal(c.Value, p.Value) || !slices.Equal(c.Headers, p.Headers) {
			t.Fatalf("record %d differs: key %q/%q, value %d/%d bytes, headers %v/%v", i, c.Key, p.Key,
				len(c.Value), len(p.Value), c.Headers, p.Headers)
		}
	}
}

// checkStoredCodec checks that the log holds the producer's batches as
// sent: with the codec the producer used (or none: clients send a batch
// uncompressed when compressing does not make it smaller).
func checkStoredCodec(t *testing.T, ts *testServer, topic string, parts int32, want batch.Compression) {
	t.Helper()
	seen := 0
	for p := range parts {
		data, _, err := ts.log.ReadBatches(topic, p, 0, 1<<30, false, nil)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		for len(data) > 0 {
			b, rest, err := batch.Next(data)
			if err != nil {
				t.Fatalf("split %s/%d: %v", topic, p, err)
			}
			data = rest
			h, _ := batch.ReadHeader(b)
			switch h.Compression() {
			case want:
				seen++
			case batch.None:
			default:
				t.Fatalf("%s/%d: stored batch compressed with %v, producer used %v", topic, p, h.Compression(), want)
			}
		}
	}
	if seen == 0 {
		t.Fatalf("%s: no stored batch compressed with %v", topic, want)
	}
}
