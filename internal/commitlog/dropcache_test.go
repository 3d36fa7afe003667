package commitlog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/millrace/millrace/internal/vfs"
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

// lockedBuffer is a bytes.Buffer safe for a logger on another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A page-cache drop that fails is logged, once per segment, and costs
// nothing else: appends go on being acknowledged, the log does not fail,
// the slice is left to the kernel, and once drops work again the segments
// written since leave the page cache as usual.
func TestFailedPageCacheDropIsLoggedAndHarmless(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages cannot be dropped")
	}
	efs := vfs.NewErrorFS(vfs.OS)
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpDropCache {
			return errors.New("EIO")
		}
		return nil
	})
	var logged lockedBuffer
	dir := t.TempDir()
	l, _, _ := openLog(t, Options{FS: efs, Dir: dir, SegmentBytes: 4 * dropSlice, DropSealedCache: true, MaxPendingBytes: 256 << 20,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	defer l.Close()
	value := bytes.Repeat([]byte{'x'}, 64<<10)
	appendUntil := func(seq uint64) {
		t.Helper()
		var a Appended
		var err error
		for a.Seq < seq || a.Pos < 2*dropSlice {
			if a, err = l.Append(1, value, Mark{}); err != nil {
				t.Fatalf("append with page-cache drops failing: %v", err)
			}
		}
		if err := a.Wait(); err != nil {
			t.Fatalf("append not acknowledged with page-cache drops failing: %v", err)
		}
	}
	appendUntil(3)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logged.String(), "not dropped"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a failed drop was not logged; log: %q", logged.String())
		}
	}
	if residentPages(t, filepath.Join(dir, segName(1)), 0, -1) == 0 {
		t.Fatal("segment 1 left the page cache although every drop failed: the test cannot tell")
	}

	time.Sleep(200 * time.Millisecond) // time for the dropper to try every slice it will
	if n := strings.Count(logged.String(), "not dropped"); n > 2 {
		t.Fatalf("%d warnings for the failed drops of two segments; want one a segment", n)
	}

	efs.SetInjector(nil)
	appendUntil(5)
	for deadline := time.Now().Add(10 * time.Second); residentPages(t, filepath.Join(dir, segName(3)), 0, -1) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("segment 3, written once drops worked again, still cached with the head in segment 5")
		}
	}
}

// Segments Open read (here all of them: a reopen after a storage failure,
// DropCache, scans every segment) leave the page cache too, once writes
// resume: the dropper starts at the oldest segment, not at the newest.
func TestSegmentsOpenReadLeaveThePageCacheOnceWritesResume(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages cannot be dropped")
	}
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 4 * dropSlice, MaxPendingBytes: 256 << 20}
	l, _, _ := openLog(t, opts)
	value := bytes.Repeat([]byte{'x'}, 64<<10)
	var a Appended
	var err error
	for a.Seq < 5 {
		if a, err = l.Append(1, value, Mark{}); err != nil {
			t.Fatal(err)
		}
	}
	a.Wait()
	l.Close()

	opts.DropCache, opts.DropSealedCache = true, true
	l, _, _ = openLog(t, opts)
	defer l.Close()
	if residentPages(t, filepath.Join(dir, segName(1)), 0, -1) == 0 {
		t.Fatal("segment 1 not cached after Open scanned it: the test cannot tell")
	}
	if a, err = l.Append(1, value, Mark{}); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cached := 0
		for seq := uint64(1); seq <= 4; seq++ {
			cached += residentPages(t, filepath.Join(dir, segName(seq)), 0, -1)
		}
		if cached == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments 1–4, read by Open, keep %d pages cached with the head past them", cached)
		}
	}
}
