package partitioner

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Values from Kafka's own UtilsTest.testMurmur2 (as signed ints there).
func TestMurmur2MatchesKafkasTestVectors(t *testing.T) {
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := int32(Murmur2([]byte(in))); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

// ForKey must agree with franz-go's Kafka-compatible key partitioner for
// every key length (each tail case of the hash) and partition count.
func TestForKeyMatchesFranzGo(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 500 {
		key := []byte(fmt.Sprintf("key-%d-%s", i, string(make([]byte, i%9))))
		for _, n := range []int{1, 3, 7, 12, 100} {
			want := p.Partition(&kgo.Record{Key: key}, n)
			if got := ForKey(key, int32(n)); int(got) != want {
				t.Fatalf("ForKey(%q, %d) = %d, franz-go says %d", key, n, got, want)
			}
		}
	}
}

func BenchmarkForKey(b *testing.B) {
	key := []byte("customer-000123")
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		ForKey(key, 12)
	}
}
