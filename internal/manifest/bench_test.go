package manifest

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkCreateTopic creates one-partition topics one by one, each in its
// own durable transaction, as a burst of CreateTopics requests would.
func BenchmarkCreateTopic(b *testing.B) {
	m := openTest(b)
	cfg := DefaultTopicConfig()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := m.CreateTopic(fmt.Sprintf("topic-%09d", i), 1, cfg, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLoad100k measures Open + Topics + Partitions of a manifest with
// 100,000 one-partition topics.
func BenchmarkLoad100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.db")
	m, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, m, 100000)
	m.Close()
	for b.Loop() {
		m, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Topics(); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Partitions(); err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}
