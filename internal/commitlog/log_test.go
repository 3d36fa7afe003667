package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/vfs"
)

type replayed struct {
	info    EntryInfo
	payload []byte
}

func openLog(t *testing.T, opts Options) (*Log, []replayed, Report) {
	t.Helper()
	var got []replayed
	l, rep, err := Open(opts, func(e EntryInfo, p []byte) error {
		// Where an entry came from is the Report's to say (Indexed):
		// the entries themselves must be the same either way.
		e.Indexed = false
		got = append(got, replayed{e, append([]byte(nil), p...)})
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, got, rep
}

func payloadOf(i int) []byte {
	return []byte(fmt.Sprintf("entry-%06d-%s", i, bytes.Repeat([]byte{'x'}, i%50)))
}

func TestAppendIsReadableAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, got, _ := openLog(t, Options{Dir: dir, SegmentBytes: 4096})
	if len(got) != 0 {
		t.Fatalf("new log replayed %d entries", len(got))
	}
	var apps []Appended
	for i := range 200 {
		a, err := l.Append(uint64(i%3), payloadOf(i), Mark{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Index != uint64(i+1) {
			t.Fatalf("entry %d got index %d", i, a.Index)
		}
		apps = append(apps, a)
	}
	for i, a := range apps {
		if err := a.Wait(); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
		p, err := l.ReadEntry(a.Seq, a.Pos, a.Size, nil)
		if err != nil || !bytes.Equal(p, payloadOf(i)) {
			t.Fatalf("read %d: %q, %v", i, p, err)
		}
	}
	if n := len(l.Segments()); n < 3 {
		t.Fatalf("4 KiB segments should have rolled: %d segments", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, got, rep := openLog(t, Options{Dir: dir, SegmentBytes: 4096})
	defer l2.Close()
	if len(got) != 200 || rep.Cut != nil {
		t.Fatalf("reopen replayed %d entries, cut %+v", len(got), rep.Cut)
	}
	for i, r := range got {
		if r.info.Index != uint64(i+1) || r.info.Stream != uint64(i%3) || !bytes.Equal(r.payload, payloadOf(i)) {
			t.Fatalf("replayed entry %d wrong: %+v %q", i, r.info, r.payload)
		}
		if r.info.Seq != apps[i].Seq || r.info.Pos != apps[i].Pos {
			t.Fatalf("entry %d moved: was %d@%d, now %d@%d", i, apps[i].Seq, apps[i].Pos, r.info.Seq, r.info.Pos)
		}
		p, err := l2.ReadEntry(r.info.Seq, r.info.Pos, r.info.Size, nil)
		if err != nil || !bytes.Equal(p, payloadOf(i)) {
			t.Fatalf("read after reopen %d: %v", i, err)
		}
	}
	a, err := l2.Append(9, []byte("after"), Mark{})
	if err != nil || a.Index != 201 {
		t.Fatalf("append after reopen: index %d, %v", a.Index, err)
	}
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestGroupCommitMakesConcurrentAppendsDurableTogether(t *testing.T) {
	var syncs int
	efs := vfs.NewErrorFS(vfs.OS)
	var mu sync.Mutex
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			mu.Lock()
			syncs++
			mu.Unlock()
		}
		return nil
	})
	var durable []Mark
	var dmu sync.Mutex
	l, _, _ := openLog(t, Options{FS: efs, Dir: t.TempDir(), OnDurable: func(m []Mark) {
		dmu.Lock()
		durable = append(durable, m...)
		dmu.Unlock()
	}})
	defer l.Close()
	const writers, each = 16, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a, err := l.Append(uint64(w), payloadOf(i), Mark{Value: int64(w*each + i)})
				if err != nil {
					t.Error(err)
					return
				}
				if err := a.Wait(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	dmu.Lock()
	defer dmu.Unlock()
	if len(durable) != writers*each {
		t.Fatalf("OnDurable reported %d marks, want %d", len(durable), writers*each)
	}
	mu.Lock()
	defer mu.Unlock()
	if syncs >= writers*each {
		t.Fatalf("%d fsyncs for %d appends: no group commit", syncs, writers*each)
	}
	t.Logf("%d appends, %d fsyncs", writers*each, syncs)
}

func TestRecoveryCutsTornTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string, ends []int64)
		keep    int
		wantCut bool
	}{
		{"clean", func(*testing.T, string, []int64) {}, 10, false},
		{"cut inside the last entry", func(t *testing.T, p string, ends []int64) { truncate(t, p, ends[9]-5) }, 9, true},
		{"cut inside a header", func(t *testing.T, p string, ends []int64) { truncate(t, p, ends[6]+3) }, 7, true},
		{"flip a byte in entry 5", func(t *testing.T, p string, ends []int64) { flip(t, p, ends[4]+40) }, 5, true},
		{"flip a byte in the first header", func(t *testing.T, p string, ends []int64) { flip(t, p, 5) }, 0, true},
		{"garbage after the zero tail", func(t *testing.T, p string, ends []int64) { writeAt(t, p, ends[9]+100, []byte("junk")) }, 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: 1 << 20})
			var ends []int64
			for i := range 10 {
				a, err := l.Append(1, payloadOf(i), Mark{})
				if err != nil {
					t.Fatal(err)
				}
				ends = append(ends, a.Pos+int64(a.Size))
			}
			// Crash: the flusher writes but we never close, so the
			// preallocated zero tail stays. Wait for durability first.
			a, _ := l.Append(1, nil, Mark{})
			a.Wait()
			l.mu.Lock()
			l.closed = true
			l.mu.Unlock()
			close(l.quit)
			<-l.done
			l.closeFiles()
			path := filepath.Join(dir, segName(1))
			// drop the extra empty entry so ends[9] is the last real one
			truncateKeepSize(t, path, ends[9])
			tc.damage(t, path, ends)
			l2, got, rep := openLog(t, Options{Dir: dir})
			defer l2.Close()
			if len(got) != tc.keep {
				t.Fatalf("kept %d entries, want %d (cut %+v)", len(got), tc.keep, rep.Cut)
			}
			if (rep.Cut != nil) != tc.wantCut {
				t.Fatalf("cut = %+v, want cut %v", rep.Cut, tc.wantCut)
			}
			for i, r := range got {
				if !bytes.Equal(r.payload, payloadOf(i)) {
					t.Fatalf("entry %d changed", i)
				}
			}
			a2, err := l2.Append(1, []byte("next"), Mark{})
			if err != nil || a2.Index != uint64(tc.keep+1) {
				t.Fatalf("next index %d (%v), want %d", a2.Index, err, tc.keep+1)
			}
		})
	}
}

func TestRecoveryMovesAsideSegmentsAfterACorruptOne(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: 300})
	for i := range 40 {
		if _, err := l.Append(1, payloadOf(i), Mark{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(segs) < 4 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	flip(t, segs[1], 40)
	l2, got, rep := openLog(t, Options{Dir: dir})
	defer l2.Close()
	if rep.Cut == nil || rep.Cut.Seq != 2 || len(rep.Cut.MovedAside) != len(segs)-2 {
		t.Fatalf("cut = %+v", rep.Cut)
	}
	for i, r := range got {
		if r.info.Index != uint64(i+1) || !bytes.Equal(r.payload, payloadOf(i)) {
			t.Fatalf("entry %d wrong after cut", i)
		}
	}
	for _, p := range rep.Cut.MovedAside {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("moved-aside file missing: %v", err)
		}
	}
}

func TestAppendShedsAtTheMemoryBound(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	release := make(chan struct{})
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			<-release // a slow disk: the first fsync stalls
		}
		return nil
	})
	l, _, _ := openLog(t, Options{FS: efs, Dir: t.TempDir(), MaxPendingBytes: 64 << 10, NoPreallocate: true})
	defer func() { efs.SetInjector(nil); l.Close() }()
	payload := make([]byte, 1000)
	var accepted []Appended
	var shed error
	for range 1000 {
		a, err := l.Append(1, payload, Mark{})
		if err != nil {
			shed = err
			break
		}
		accepted = append(accepted, a)
	}
	var oe *OverloadError
	if !errors.Is(shed, ErrOverloaded) || !errors.As(shed, &oe) || oe.RetryAfter <= 0 {
		t.Fatalf("want ErrOverloaded with a retry-after hint, got %v", shed)
	}
	if p := l.PendingBytes(); p > 64<<10 {
		t.Fatalf("pending %d bytes exceeds the bound", p)
	}
	close(release)
	for _, a := range accepted {
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(1, payload, Mark{}); err != nil {
		t.Fatalf("append after the disk caught up: %v", err)
	}
}

func TestFailedSyncFailsWaitersAndRefusesAppends(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(vfs.OS)
	l, _, _ := openLog(t, Options{FS: efs, Dir: dir})
	a, _ := l.Append(1, []byte("ok"), Mark{})
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return errors.New("EIO")
		}
		return nil
	})
	b, _ := l.Append(1, []byte("lost"), Mark{})
	if err := b.Wait(); err == nil {
		t.Fatal("append acknowledged although its fsync failed")
	}
	if _, err := l.Append(1, []byte("more"), Mark{}); err == nil {
		t.Fatal("failed log accepted an append")
	}
	efs.SetInjector(nil)
	l.Close()
	l2, got, _ := openLog(t, Options{Dir: dir})
	defer l2.Close()
	if len(got) < 1 || string(got[0].payload) != "ok" {
		t.Fatalf("acknowledged entry lost: %d entries", len(got))
	}
}

func TestSyncPolicies(t *testing.T) {
	for _, s := range []string{"always", "never", "interval=5"} {
		t.Run(s, func(t *testing.T) {
			p, err := ParseSyncPolicy(s)
			if err != nil || p.String() != s {
				t.Fatalf("parse %q: %v %v", s, p, err)
			}
			dir := t.TempDir()
			l, _, _ := openLog(t, Options{Dir: dir, Sync: p})
			a, _ := l.Append(1, []byte("x"), Mark{})
			if err := a.Wait(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			_, got, _ := openLog(t, Options{Dir: dir})
			if len(got) != 1 {
				t.Fatalf("got %d entries", len(got))
			}
		})
	}
	for _, bad := range []string{"sometimes", "interval=", "interval=-3", "interval=x"} {
		if _, err := ParseSyncPolicy(bad); err == nil {
			t.Errorf("ParseSyncPolicy(%q) accepted", bad)
		}
	}
}

// With UnwaitedSyncDelay, an fsync nobody waits for is held (the entry is
// written, not yet durable); the first Wait ends the hold at once, and so
// does a Wait right after an append. Close syncs what is held.
func TestUnwaitedSyncIsHeldUntilWaitedFor(t *testing.T) {
	dir := t.TempDir()
	var durable atomic.Int64
	l, _, _ := openLog(t, Options{Dir: dir, UnwaitedSyncDelay: time.Hour, OnDurable: func(m []Mark) { durable.Add(int64(len(m))) }})
	a, err := l.Append(1, []byte("acks=1"), Mark{Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case <-a.c.done: // not a.Done(): asking for it is waiting
		t.Fatal("an entry nobody waits for was synced at once despite the delay")
	default:
	}
	if durable.Load() != 0 {
		t.Fatal("OnDurable ran before the held fsync")
	}
	waited := make(chan error, 1)
	go func() { waited <- a.Wait() }()
	select {
	case err := <-waited:
		if err != nil || durable.Load() != 1 {
			t.Fatalf("wait: %v; %d marks durable", err, durable.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting did not end the held fsync")
	}
	b, err := l.Append(1, []byte("acks=all"), Mark{Value: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	c, err := l.Append(1, []byte("held at close"), Mark{Value: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("an entry held at Close: %v", err)
	}
	_, got, _ := openLog(t, Options{Dir: dir})
	if len(got) != 3 {
		t.Fatalf("reopened with %d entries, want 3", len(got))
	}
}

// A Wait that comes while the flusher writes (before it decides to hold
// the fsync) still ends the hold: its signal is not drained. (Found in
// review: the hold drained the signal first and ran its full delay.)
func TestWaitDuringTheWritesEndsTheHold(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), FS: efs, UnwaitedSyncDelay: time.Hour})
	defer l.Close()
	inWrite, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpWrite {
			once.Do(func() { close(inWrite); <-release })
		}
		return nil
	})
	if _, err := l.Append(1, []byte("acks=1"), Mark{Value: 1}); err != nil {
		t.Fatal(err)
	}
	<-inWrite // the flusher took the first entry and is writing it
	b, err := l.Append(1, []byte("acks=all"), Mark{Value: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Wait() }()
	time.Sleep(20 * time.Millisecond) // the Wait has signalled
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an append waited for during the writes was held for the delay")
	}
}

// A hold does not make appends shed: once what was appended meanwhile
// reaches a quarter of MaxPendingBytes, the fsync (and the next writes) go
// ahead. Offered 4 MiB at once against a 1 MiB bound, with a delay of an
// hour, every append is accepted after at most a few retries.
func TestHeldSyncDoesNotMakeAppendsShed(t *testing.T) {
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), UnwaitedSyncDelay: time.Hour, MaxPendingBytes: 1 << 20})
	defer l.Close()
	payload := make([]byte, 4<<10)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 1024; {
		_, err := l.Append(1, payload, Mark{})
		switch {
		case errors.Is(err, ErrOverloaded):
			if time.Now().After(deadline) {
				t.Fatalf("append %d still refused as overloaded after 10 s: the held fsync blocks the writes", i)
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			t.Fatal(err)
		default:
			i++
		}
	}
}

func TestSegmentAgeRollsIdleSegment(t *testing.T) {
	var sealed = make(chan SegmentInfo, 4)
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), SegmentAge: 20 * time.Millisecond, OnSeal: func(s SegmentInfo) error {
		sealed <- s
		return nil
	}})
	defer l.Close()
	a, _ := l.Append(1, []byte("x"), Mark{})
	a.Wait()
	select {
	case s := <-sealed:
		if s.Seq != 1 || s.LastIndex != 1 {
			t.Fatalf("sealed %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle segment was not sealed by age")
	}
}

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

// truncateKeepSize zeroes everything from n on, as a preallocated tail.
func truncateKeepSize(t *testing.T, p string, n int64) {
	t.Helper()
	fi, _ := os.Stat(p)
	truncate(t, p, n)
	truncate(t, p, fi.Size())
}

func flip(t *testing.T, p string, at int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, p string, at int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, at); err != nil {
		t.Fatal(err)
	}
}

func TestFailedRenameDuringRecoveryFailsOpenCleanly(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: 300})
	for i := range 30 {
		if _, err := l.Append(1, payloadOf(i), Mark{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	flip(t, segs[0], 40) // corrupt the first segment: the later ones must be moved aside
	efs := vfs.NewErrorFS(vfs.OS)
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpRename {
			return errors.New("EXDEV")
		}
		return nil
	})
	if _, _, err := Open(Options{FS: efs, Dir: dir}, nil); err == nil || !strings.Contains(err.Error(), "move aside") {
		t.Fatalf("Open with a failing rename: %v", err)
	}
	efs.SetInjector(nil)
	l2, _, rep := openLog(t, Options{FS: efs, Dir: dir})
	defer l2.Close()
	if rep.Cut == nil || len(rep.Cut.MovedAside) != len(segs)-1 {
		t.Fatalf("after the fault cleared: cut %+v", rep.Cut)
	}
}

// A quiet log commits one small entry at a time. Its tail cache must hold
// those entries' bytes, not a whole buffer each: successive commits share
// a block, so the memory pinned stays near the cache's bound, and the
// entries stay readable from it.
func TestTailCacheOfSmallCommitsSharesBlocks(t *testing.T) {
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncNever}, TailCacheBytes: 1 << 20})
	defer l.Close()
	var last Appended
	for i := range 2000 {
		a, err := l.Append(1, payloadOf(i), Mark{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Wait(); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
		last = a
	}
	l.mu.Lock()
	blocks := map[*block]bool{}
	for _, c := range l.mem {
		blocks[c.blk] = true
	}
	chunks := len(l.mem)
	l.mu.Unlock()
	if chunks < 1000 {
		t.Fatalf("the tail cache holds %d chunks; 2000 single-entry commits of about 60 bytes fit in 1 MiB", chunks)
	}
	// 2000 entries of about 60 bytes fill a fraction of one block.
	if len(blocks) != 1 {
		t.Fatalf("the tail cache of %d small chunks holds %d blocks; want 1", chunks, len(blocks))
	}
	p, err := l.ReadEntry(last.Seq, last.Pos, last.Size, nil)
	if err != nil || !bytes.Equal(p, payloadOf(1999)) {
		t.Fatalf("the last entry read back as %q, %v", p, err)
	}
}

// Appends never reallocate a chunk: an entry that does not fit in the rest
// of the block starts a new chunk in a new block, an entry larger than a
// block gets a block of its own size, and blocks the tail cache evicts are
// reused rather than allocated again. Every entry reads back whole.
func TestChunksFillBlocksAndBlocksAreReused(t *testing.T) {
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncNever}, TailCacheBytes: 3 * blockSize})
	defer l.Close()
	payload := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }
	third := blockSize/3 - FrameHeaderSize // three such frames fill a block
	sizes := []int{third, third, third, blockSize + 100, 1000}
	for range 8 {
		sizes = append(sizes, third, third, third)
	}
	seen := map[*block]bool{}
	var apps []Appended
	for i, n := range sizes {
		a, err := l.Append(1, payload(i, n), Mark{})
		if err != nil {
			t.Fatal(err)
		}
		// The newest chunk is never the one the tail cache evicts.
		l.mu.Lock()
		c := a.c
		if len(c.buf) > len(c.blk.mem) || &c.buf[:cap(c.buf)][cap(c.buf)-1] != &c.blk.mem[len(c.blk.mem)-1] {
			t.Errorf("entry %d: the chunk's buffer is not the end of its block", i)
		}
		if n > blockSize && len(c.blk.mem) != n+FrameHeaderSize {
			t.Errorf("entry %d of %d bytes: block of %d bytes, want one of its own size", i, n, len(c.blk.mem))
		}
		seen[c.blk] = true
		l.mu.Unlock()
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	// 27 entries of a third of a block and two odd ones: without reuse 11
	// blocks; with a tail cache of 3 blocks, reuse keeps it to at most 6.
	t.Logf("%d distinct blocks", len(seen))
	if len(seen) > 6 {
		t.Errorf("%d distinct blocks used; evicted blocks were not reused", len(seen))
	}
	for i, a := range apps {
		p, err := l.ReadEntry(a.Seq, a.Pos, a.Size, nil)
		if err != nil || !bytes.Equal(p, payload(i, sizes[i])) {
			t.Fatalf("entry %d read back wrong: %d bytes, %v", i, len(p), err)
		}
	}
}

// With FlusherNice set, the flusher runs on a thread of its own at that
// nice value (the process may set it when it runs as root, as CI does).
func TestFlusherRunsAtItsNiceValue(t *testing.T) {
	if !canRaisePriority() {
		t.Skip("this process may not set a negative nice value (needs CAP_SYS_NICE on Linux)")
	}
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), FlusherNice: -7})
	if _, err := l.Append(1, []byte("x"), Mark{}); err != nil {
		t.Fatal(err)
	}
	found := func() bool {
		tasks, _ := filepath.Glob("/proc/self/task/*/stat")
		for _, p := range tasks {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			// Fields after the parenthesised command name: the nice value
			// is field 19 of the whole line, 17th after ") ".
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
			if len(f) > 16 && f[16] == "-7" {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !found() {
		if time.Now().After(deadline) {
			t.Fatal("no thread of the process runs at nice -7")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Closed, the flusher gives its thread back at the nice value it had:
	// its priority is not handed on to other goroutines.
	l.Close()
	deadline = time.Now().Add(5 * time.Second)
	for found() {
		if time.Now().After(deadline) {
			t.Fatal("a thread still runs at nice -7 after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOnDoneIsCalledOnceAfterTheMarksWithTheOutcome: a function registered
// with OnDone runs exactly once, after the entry's mark reached OnDurable;
// registered after completion, it runs at once; a failed fsync reaches it
// as an error.
func TestOnDoneIsCalledOnceAfterTheMarksWithTheOutcome(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	var durable atomic.Int64
	l, _, _ := openLog(t, Options{FS: efs, Dir: t.TempDir(), OnDurable: func(m []Mark) {
		durable.Store(m[len(m)-1].Value)
	}})
	defer l.Close()

	const n = 300
	type outcome struct {
		err     error
		durable int64
	}
	got := make(chan outcome, 2*n)
	for i := 1; i <= n; i++ {
		a, err := l.Append(1, payloadOf(i), Mark{Value: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		a.OnDone(func(err error) { got <- outcome{err, durable.Load() - int64(i)} })
	}
	for range n {
		select {
		case o := <-got:
			if o.err != nil {
				t.Fatalf("OnDone: %v", o.err)
			}
			if o.durable < 0 {
				t.Fatalf("OnDone called before its mark reached OnDurable (%d marks short)", -o.durable)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("OnDone not called within 10 s")
		}
	}

	a, _ := l.Append(1, []byte("late"), Mark{Value: n + 1})
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
	called := false
	a.OnDone(func(err error) { called = err == nil })
	if !called {
		t.Fatal("OnDone on a durable entry did not call its function at once, with no error")
	}

	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return errors.New("EIO")
		}
		return nil
	})
	b, _ := l.Append(1, []byte("lost"), Mark{Value: n + 2})
	failed := make(chan error, 2)
	b.OnDone(func(err error) { failed <- err })
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("OnDone reported success for an entry whose fsync failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnDone not called for a failed fsync within 10 s")
	}
	efs.SetInjector(nil)
	time.Sleep(50 * time.Millisecond)
	if len(got) != 0 || len(failed) != 0 {
		t.Fatalf("OnDone functions called more than once: %d and %d extra calls", len(got), len(failed))
	}
}

// A chunk's marks go back to a free list once OnDurable has had them, and
// the flusher reuses its list of the chunks of a pass: at a steady pace of
// one append per group commit, an append allocates its chunk and the
// chunk's done channel, and nothing else (the test counts every
// goroutine's allocations, the flusher's included).
func TestCompletedChunksMarksAreReused(t *testing.T) {
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), OnDurable: func([]Mark) {}})
	defer l.Close()
	payload := []byte("steady")
	appendOne := func() {
		a, err := l.Append(1, payload, Mark{Value: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		appendOne() // the free list and the log's slices reach their steady size
	}
	if n := testing.AllocsPerRun(200, appendOne); n > 2 {
		t.Fatalf("%.1f allocations per append at a steady pace; want at most 2 (the chunk and its done channel)", n)
	}
}
