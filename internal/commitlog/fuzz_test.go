package commitlog

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover writes arbitrary bytes as a segment (after a valid one) and
// opens the log: recovery must not panic, must replay only entries whose
// frame and CRC check out with contiguous indexes, and must leave a log
// that accepts the next append at the next index.
func FuzzRecover(f *testing.F) {
	valid := appendFrame(nil, 1, 1, 7, []byte("hello"), payloadCRC([]byte("hello")))
	valid = appendFrame(valid, 1, 2, 7, []byte("world"), payloadCRC([]byte("world")))
	f.Add(valid)
	f.Add(append(append([]byte{}, valid...), make([]byte, 100)...))
	f.Add(valid[:len(valid)-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		var last uint64
		l, _, err := Open(Options{Dir: dir, NoPreallocate: true}, func(e EntryInfo, p []byte) error {
			if last != 0 && e.Index != last+1 {
				t.Fatalf("replayed index %d after %d", e.Index, last)
			}
			if int(e.Size) != FrameHeaderSize+len(p) {
				t.Fatalf("entry size %d for a %d-byte payload", e.Size, len(p))
			}
			last = e.Index
			return nil
		})
		if err != nil {
			t.Fatalf("Open failed instead of cutting: %v", err)
		}
		defer l.Close()
		a, err := l.Append(1, []byte("after"), Mark{})
		if err != nil {
			t.Fatal(err)
		}
		if last != 0 && a.Index != last+1 {
			t.Fatalf("next index %d after replaying up to %d", a.Index, last)
		}
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}
