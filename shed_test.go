package millrace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/vfs"
)

func TestAppendsPastTheMemoryBoundFailFastWithErrOverloaded(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	stall := make(chan struct{})
	stalled := make(chan struct{}, 1)
	l := openT(t, Options{Dir: t.TempDir(), FS: efs, MaxPendingBytes: 1 << 20})
	l.CreateTopic("t", 4, nil)
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			select {
			case stalled <- struct{}{}:
			default:
			}
			<-stall // the disk stops answering
		}
		return nil
	})
	defer func() { efs.SetInjector(nil); close(stall) }()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	value := make([]byte, 10<<10)
	ctx := context.Background()
	accepted, shed := 0, 0
	var firstShed error
	for i := range 2000 {
		start := time.Now()
		_, err := l.Append(ctx, "t", int32(i%4), []Record{{Value: value}}, AppendOptions{Ack: AckMemory})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, ErrOverloaded):
			shed++
			if firstShed == nil {
				firstShed = err
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Fatalf("a shed append took %v: it must fail at once", d)
			}
		default:
			t.Fatalf("append %d: %v", i, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if shed == 0 || accepted == 0 {
		t.Fatalf("accepted %d, shed %d: want both", accepted, shed)
	}
	if RetryAfter(firstShed) <= 0 {
		t.Fatalf("shed error %v carries no retry-after hint", firstShed)
	}
	if accepted*len(value) > 2<<20 {
		t.Fatalf("accepted %d KiB with a 1 MiB bound", accepted*len(value)>>10)
	}
	if grew := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB under shedding", grew>>20)
	}
}

func TestReopenReconcilesManifestWithFiles(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 40 {
		if _, err := l.Append(ctx, "t", 0, recs(4, "x"), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// A row without a file: an operator removed the oldest segment by
	// hand. A file without a row: the newest segment's row is dropped.
	segs, _ := filepath.Glob(filepath.Join(dir, "shards", "0", "*.log"))
	if len(segs) < 3 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(Options{Dir: dir, SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := l2.man.Segments(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(segs)-1 {
		t.Fatalf("manifest has %d segment rows for %d files", len(rows), len(segs)-1)
	}
	if err := l2.man.DeleteSegment(0, rows[len(rows)-1].Seq); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	l3 := openT(t, Options{Dir: dir, SegmentBytes: 2048})
	rows, _ = l3.man.Segments(0)
	if len(rows) != len(segs)-1 {
		t.Fatalf("file without a row was not recorded: %d rows for %d files", len(rows), len(segs)-1)
	}
	start, hw, _, _ := l3.Watermarks("t", 0)
	if hw != 160 || start != 0 {
		t.Fatalf("watermarks after losing the first segment: start %d hw %d", start, hw)
	}
}
