package commitlog

import (
	"testing"
)

// BenchmarkBuildIndex measures what the index writer spends on one sealed
// segment of 64 MiB in entries of about 2 KiB (the page cache warm, as
// after a seal): reading it back, checking every frame's CRC, writing and
// syncing the index file.
func BenchmarkBuildIndex(b *testing.B) {
	dir := b.TempDir()
	l, _, err := Open(Options{Dir: dir, SegmentBytes: 64 << 20, IndexPrefix: 61, Sync: SyncPolicy{Mode: SyncNever}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := make([]byte, 2000)
	var last Appended
	for last.Seq < 2 {
		if last, err = l.Append(1, payload, Mark{}); err != nil {
			b.Fatal(err)
		}
	}
	last.Wait()
	l.WaitIndexed()
	l.mu.Lock()
	s := l.segs[1]
	j := indexJob{seq: 1, first: s.firstIndex, count: int(s.lastIndex - s.firstIndex + 1), segSize: s.size}
	l.mu.Unlock()
	b.SetBytes(j.segSize)
	b.ResetTimer()
	for range b.N {
		if err := l.buildIndex(j); err != nil {
			b.Fatal(err)
		}
	}
}
