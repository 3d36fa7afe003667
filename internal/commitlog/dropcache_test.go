package commitlog

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages counts the pages of path's bytes [from, to) in the page
// cache (mincore); to of -1 is the file's end.
func residentPages(t *testing.T, path string, from, to int64) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := fileSize(t, path)
	if to < 0 || to > size {
		to = size
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := int64(os.Getpagesize())
	vec := make([]byte, (size+page-1)/page)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec[from/page : (to+page-1)/page] {
		n += int(v & 1)
	}
	return n
}

// With DropSealedCache the page cache follows the write head one segment
// behind: with the head a few slices into segment 3, segment 1 has left
// the page cache, and segment 2 has up to the head's offset, while the
// rest of segment 2 stays cached. Without it, written segments stay
// cached.
func TestDropSealedCacheKeepsOneSegmentBehindTheWriteHead(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages cannot be dropped")
	}
	const segBytes = 8 * dropSlice
	for _, drop := range []bool{false, true} {
		dir := t.TempDir()
		l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: segBytes, DropSealedCache: drop, MaxPendingBytes: 256 << 20})
		var a Appended
		var err error
		value := bytes.Repeat([]byte{'x'}, 64<<10)
		for a.Seq < 3 || a.Pos < 4*dropSlice {
			if a, err = l.Append(1, value, Mark{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
		head := a.Pos + int64(a.Size)
		seg1, seg2 := filepath.Join(dir, segName(1)), filepath.Join(dir, segName(2))
		behind := head / dropSlice * dropSlice // dropped in whole slices
		var first, below int
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			first, below = residentPages(t, seg1, 0, -1), residentPages(t, seg2, 0, behind)
			if !drop || (first == 0 && below == 0) || time.Now().After(deadline) {
				break
			}
		}
		if drop {
			time.Sleep(200 * time.Millisecond) // time to drop more than it should, if it would
		}
		above := residentPages(t, seg2, head+dropSlice, -1)
		l.Close()
		switch {
		case drop && (first != 0 || below != 0):
			t.Fatalf("with DropSealedCache, segment 1 keeps %d pages cached, segment 2 %d before the head's offset %d", first, below, behind)
		case drop && above == 0:
			t.Fatalf("with DropSealedCache, segment 2 past the head's offset %d has no page cached: more than a segment dropped", head)
		case !drop && first == 0:
			t.Fatalf("without DropSealedCache, segment 1 has no page cached: the test cannot tell")
		}
	}
}
