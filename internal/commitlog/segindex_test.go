package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/millrace/millrace/internal/vfs"
)

const testPrefix = 10

// fillSegments appends n entries to a log that rolls every few KiB, so
// that it seals several segments, waits for each, and closes it.
func fillSegments(t *testing.T, dir string, n int) {
	t.Helper()
	l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: 4 << 10, IndexPrefix: testPrefix})
	appendDurably(t, l, n)
	l.WaitIndexed()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// appendDurably appends payloadOf(i) for i < n to streams 1, 2 and 3 in
// turn, each waited for.
func appendDurably(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		a, err := l.Append(uint64(1+i%3), payloadOf(i), Mark{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// Each replayed entry must be what a scan replays: same place, size,
// term, index and stream, in the same order, and its payload cut to the
// prefix if its segment was replayed from an index file (any other than
// those in scanned), whole if it was scanned.
func sameReplay(t *testing.T, scanned, indexed []replayed, scannedSegs ...uint64) {
	t.Helper()
	if len(indexed) != len(scanned) {
		t.Fatalf("replayed %d entries from index files, %d by scanning", len(indexed), len(scanned))
	}
	for i := range scanned {
		want := scanned[i].payload
		if !slices.Contains(scannedSegs, scanned[i].info.Seq) {
			want = want[:min(testPrefix, len(want))]
		}
		if indexed[i].info != scanned[i].info || !bytes.Equal(indexed[i].payload, want) {
			t.Fatalf("entry %d: %+v %q; want %+v %q", i, indexed[i].info, indexed[i].payload, scanned[i].info, want)
		}
	}
}

func countFiles(t *testing.T, dir, pattern string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// A log reopened after its segments were sealed replays them from their
// index files without reading them, exactly as a scan would, prefix aside;
// the segment that was active when it closed is scanned and gets its index
// file then, so the open after that reads no segment at all.
func TestReopenReplaysSealedSegmentsFromTheirIndexFiles(t *testing.T) {
	dir := t.TempDir()
	fillSegments(t, dir, 300)
	segs := countFiles(t, dir, "*.log")
	if segs < 4 {
		t.Fatalf("%d segments; the test needs several", segs)
	}

	l, scanned, rep := openLog(t, Options{Dir: dir}) // no prefix: every segment scanned
	l.Close()
	if rep.Indexed != 0 || len(scanned) != 300 {
		t.Fatalf("without IndexPrefix: %d segments from index files, %d entries; want 0 and 300", rep.Indexed, len(scanned))
	}

	l, indexed, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	l.WaitIndexed()
	l.Close()
	if rep.Indexed != segs-1 {
		t.Fatalf("%d of %d segments replayed from index files; want all but the last one written", rep.Indexed, segs)
	}
	sameReplay(t, scanned, indexed, uint64(segs))

	l, again, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	defer l.Close()
	if rep.Indexed != segs {
		t.Fatalf("second open: %d of %d segments from index files; want all", rep.Indexed, segs)
	}
	sameReplay(t, scanned, again)
	a, err := l.Append(1, []byte("next"), Mark{})
	if err != nil || a.Index != 301 {
		t.Fatalf("next append got index %d (%v), want 301", a.Index, err)
	}
}

// An index file that does not match its segment is not trusted: Open
// scans that segment, replays the same entries, and writes the index file
// anew.
func TestUntrustedIndexFilesAreScannedAndRewritten(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, idx, log string)
	}{
		{"a flipped byte", func(t *testing.T, idx, _ string) { flip(t, idx, 40) }},
		{"torn", func(t *testing.T, idx, _ string) { truncate(t, idx, 50) }},
		{"empty", func(t *testing.T, idx, _ string) { truncate(t, idx, 0) }},
		{"its segment grew", func(t *testing.T, _, log string) { writeAt(t, log, fileSize(t, log), []byte("more")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fillSegments(t, dir, 200)
			l, scanned, _ := openLog(t, Options{Dir: dir})
			l.Close()
			segs := countFiles(t, dir, "*.log")
			tc.damage(t, filepath.Join(dir, indexName(2)), filepath.Join(dir, segName(2)))

			l, got, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
			l.WaitIndexed()
			l.Close()
			if tc.name == "its segment grew" {
				// The added bytes are no frame: the scan cuts them there
				// and moves the later segments aside.
				if rep.Cut == nil || rep.Cut.Seq != 2 || rep.Indexed != 1 {
					t.Fatalf("cut %+v with %d segments from index files; want a cut in segment 2, after 1", rep.Cut, rep.Indexed)
				}
				return
			}
			if rep.Indexed != segs-2 {
				t.Fatalf("%d segments from index files; want %d, all but the damaged one and the last", rep.Indexed, segs-2)
			}
			sameReplay(t, scanned, got, 2, uint64(segs))
			l, again, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
			l.Close()
			sameReplay(t, scanned, again)
			if rep.Indexed != segs {
				t.Fatalf("after the rewrite: %d of %d segments from index files", rep.Indexed, segs)
			}
		})
	}
}

// Deleting a segment deletes its index file; an index file left without
// its segment, or a temporary one, is removed by Open.
func TestIndexFilesGoWithTheirSegments(t *testing.T) {
	dir := t.TempDir()
	fillSegments(t, dir, 200)
	l, _, _ := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	if err := l.DeleteSegment(1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, indexName(1))); !os.IsNotExist(err) {
		t.Fatalf("segment 1's index file after DeleteSegment: %v", err)
	}
	l.Close()
	os.Remove(filepath.Join(dir, segName(2)))
	os.WriteFile(filepath.Join(dir, indexName(3)+".tmp"), []byte("torn"), 0o644)
	l, _, _ = openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	defer l.Close()
	for _, name := range []string{indexName(2), indexName(3) + ".tmp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s after Open: %v; want it removed", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, indexName(3))); err != nil {
		t.Errorf("segment 3's index file: %v", err)
	}
}

// Retention deletes any segment nothing refers to, so the log may skip
// segments, and with them entry indexes. A reopen takes the skip as it
// comes, whether it reads the later segments or their index files: no cut,
// nothing moved aside, the entries after the gap replayed, and the next
// index after the last one. After a failed fsync (DropCache) it reads
// every segment, index files or not.
func TestReopenAcrossADeletedSegment(t *testing.T) {
	for _, prefix := range []int{0, testPrefix} {
		dir := t.TempDir()
		fillSegments(t, dir, 300)
		l, all, _ := openLog(t, Options{Dir: dir, IndexPrefix: prefix})
		if err := l.DeleteSegment(2); err != nil {
			t.Fatal(err)
		}
		l.WaitIndexed()
		l.Close()
		var want []replayed
		for _, r := range all {
			if r.info.Seq != 2 {
				want = append(want, r)
			}
		}
		for _, dropCache := range []bool{false, true} {
			l, got, rep := openLog(t, Options{Dir: dir, IndexPrefix: prefix, DropCache: dropCache})
			if rep.Cut != nil || len(got) != len(want) || got[len(got)-1].info != want[len(want)-1].info {
				t.Fatalf("prefix %d, drop cache %v: cut %+v, %d entries replayed; want no cut and %d", prefix, dropCache, rep.Cut, len(got), len(want))
			}
			if dropCache && rep.Indexed != 0 {
				t.Fatalf("after a failed fsync %d segments came from index files; want none", rep.Indexed)
			}
			if prefix > 0 && !dropCache && rep.Indexed != rep.Segments {
				t.Fatalf("%d of %d segments from index files; want all", rep.Indexed, rep.Segments)
			}
			a, err := l.Append(1, []byte("next"), Mark{})
			if err != nil || a.Index != want[len(want)-1].info.Index+1 {
				t.Fatalf("next index %d (%v), want %d", a.Index, err, want[len(want)-1].info.Index+1)
			}
			a.Wait()
			l.WaitIndexed()
			l.Close()
			want = append(want, replayed{info: a.EntryInfo})
		}
		if n := countFiles(t, dir, "*.corrupt"); n != 0 {
			t.Fatalf("%d segments moved aside", n)
		}
	}
}

// While the log runs, each segment the flusher seals gets its index file
// from the index writer, not from the flusher.
func TestSealedSegmentsGetIndexFilesWhileRunning(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: 4 << 10, IndexPrefix: testPrefix})
	defer l.Close()
	for i := range 300 {
		if _, err := l.Append(1, payloadOf(i), Mark{}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := l.Append(1, payloadOf(300), Mark{})
	a.Wait()
	sealed := 0
	for _, s := range l.Segments() {
		if s.Sealed {
			sealed++
		}
	}
	if sealed < 2 {
		t.Fatalf("%d sealed segments; the test needs several", sealed)
	}
	l.WaitIndexed()
	if n := countFiles(t, dir, "*.idx"); n != sealed {
		t.Fatalf("%d index files for %d sealed segments", n, sealed)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// An index file of any content, its checksum made right (so that the
// structural checks behind it are what the fuzzer reaches), never panics:
// either loadIndex refuses it, or its entries tile the segment with
// consecutive indexes when replayed. (Open's use of a refused file, a scan,
// is TestUntrustedIndexFilesAreScannedAndRewritten's.) The fuzz function
// does no fsync, so that its executions stay quick.
func FuzzIndexFile(f *testing.F) {
	seg := appendFrame(nil, 1, 1, 7, []byte("hello, world"), payloadCRC([]byte("hello, world")))
	seg = appendFrame(seg, 1, 2, 8, []byte("hi"), payloadCRC([]byte("hi")))
	valid := indexJob{first: 1, count: 2, segSize: int64(len(seg))}.header(testPrefix)
	valid = appendIndexRecord(valid, seg[:FrameHeaderSize+12], testPrefix)
	valid = appendIndexRecord(valid, seg[FrameHeaderSize+12:], testPrefix)
	valid = binary.LittleEndian.AppendUint32(valid, crc32.Checksum(valid, castagnoli))
	f.Add(valid[:len(valid)-4])
	f.Add(valid[:indexHeaderSize])
	f.Add([]byte(indexMagic))
	dir := f.TempDir()
	l := &Log{opts: Options{Dir: dir, IndexPrefix: testPrefix}}
	l.opts.setDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		idx := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		if err := os.WriteFile(l.indexPath(1), idx, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := l.loadIndex(1, int64(len(seg)), 0, false)
		if err != nil {
			return
		}
		var pos int64
		var last uint64
		var rep Report
		s := &segment{seq: 1}
		err = l.replayIndex(s, j, func(e EntryInfo, p []byte) error {
			if e.Pos != pos || (last != 0 && e.Index != last+1) || len(p) > testPrefix {
				t.Fatalf("entry %+v (payload %d bytes) after position %d, index %d", e, len(p), pos, last)
			}
			pos, last = pos+int64(e.Size), e.Index
			return nil
		}, &rep)
		if err != nil || pos != int64(len(seg)) {
			t.Fatalf("a trusted index file replayed %d of %d bytes: %v", pos, len(seg), err)
		}
	})
}

// A segment replayed from its index file is not read at all: damage in
// its middle (a flipped byte, as bad media might leave) does not cut the
// log at Open, and is found when that entry is read, by its CRC.
func TestSegmentsReplayedFromIndexFilesAreNotRead(t *testing.T) {
	dir := t.TempDir()
	fillSegments(t, dir, 200)
	l, before, _ := openLog(t, Options{Dir: dir})
	l.Close()
	var victim replayed
	for _, r := range before {
		if r.info.Seq == 2 {
			victim = r
			break
		}
	}
	flip(t, filepath.Join(dir, segName(2)), victim.info.Pos+FrameHeaderSize+3)

	l, got, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	defer l.Close()
	if rep.Cut != nil || len(got) != len(before) {
		t.Fatalf("cut %+v, %d entries replayed; want no cut and %d: the damaged segment was read", rep.Cut, len(got), len(before))
	}
	if _, err := l.ReadEntry(victim.info.Seq, victim.info.Pos, victim.info.Size, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading the damaged entry: %v; want ErrCorrupt", err)
	}
}

// Once the index writer has written a sealed segment's index file, the log
// says so (Indexed, OnIndexed, in seal order), and SegmentEntries hands the
// segment's entries as a replay from that file would, marked Indexed; with
// the file gone it reads the segment instead and hands the same entries,
// their payloads cut to the prefix. A segment that is gone is an error.
func TestSegmentEntriesAfterTheIndexFileIsWritten(t *testing.T) {
	dir := t.TempDir()
	var told []uint64
	var mu sync.Mutex
	l, _, _ := openLog(t, Options{Dir: dir, SegmentBytes: 4 << 10, IndexPrefix: testPrefix, OnIndexed: func(seq uint64) {
		mu.Lock()
		told = append(told, seq)
		mu.Unlock()
	}})
	defer l.Close()
	appendDurably(t, l, 300)
	l.WaitIndexed()
	segs := l.Segments()
	sealed := segs[:len(segs)-1] // the last one is active
	mu.Lock()
	if len(told) != len(sealed) || len(sealed) < 3 {
		t.Fatalf("OnIndexed told of segments %v; %d sealed", told, len(sealed))
	}
	for i, s := range sealed {
		if told[i] != s.Seq || !l.Indexed(s.Seq) {
			t.Fatalf("segment %d: told %v, Indexed %v", s.Seq, told, l.Indexed(s.Seq))
		}
	}
	mu.Unlock()
	if active := segs[len(segs)-1].Seq; l.Indexed(active) {
		t.Fatalf("the active segment %d says it is indexed", active)
	}
	collect := func(seq uint64) (out []replayed) {
		t.Helper()
		if err := l.SegmentEntries(seq, func(e EntryInfo, p []byte) error {
			out = append(out, replayed{e, append([]byte(nil), p...)})
			return nil
		}); err != nil {
			t.Fatalf("SegmentEntries(%d): %v", seq, err)
		}
		return out
	}
	seq := sealed[1].Seq
	fromIndex := collect(seq)
	if len(fromIndex) == 0 || !fromIndex[0].info.Indexed || fromIndex[0].info.Index != sealed[1].FirstIndex {
		t.Fatalf("segment %d from its index file: %d entries, first %+v", seq, len(fromIndex), fromIndex[0].info)
	}
	if err := os.Remove(filepath.Join(dir, indexName(seq))); err != nil {
		t.Fatal(err)
	}
	fromSegment := collect(seq)
	if len(fromSegment) != len(fromIndex) {
		t.Fatalf("segment %d read itself: %d entries, %d from its index file", seq, len(fromSegment), len(fromIndex))
	}
	for i := range fromSegment {
		a, b := fromSegment[i], fromIndex[i]
		a.info.Indexed = true
		if a.info != b.info || !bytes.Equal(a.payload, b.payload) || len(a.payload) != testPrefix {
			t.Fatalf("entry %d: from the segment %+v %q, from the index file %+v %q", i, a.info, a.payload, b.info, b.payload)
		}
	}
	if err := l.SegmentEntries(segs[len(segs)-1].Seq+5, func(EntryInfo, []byte) error { return nil }); !errors.Is(err, ErrSegmentGone) {
		t.Fatalf("entries of a segment that does not exist: %v, want ErrSegmentGone", err)
	}
}

// countSegmentReads returns a file system that counts the reads of
// segment files, and the count so far.
func countSegmentReads() (*vfs.ErrorFS, func() int64) {
	efs := vfs.NewErrorFS(vfs.OS)
	var reads atomic.Int64
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpRead && filepath.Ext(path) == ".log" {
			reads.Add(1)
		}
		return nil
	})
	return efs, reads.Load
}

// A segment the flusher wrote gets its index file from the records it
// kept as it wrote, without reading the segment back; the file is byte
// for byte what reading the segment back builds.
func TestIndexFilesOfWrittenSegmentsAreBuiltWithoutReadingThemBack(t *testing.T) {
	dir := t.TempDir()
	efs, segReads := countSegmentReads()
	l, _, _ := openLog(t, Options{FS: efs, Dir: dir, SegmentBytes: 4 << 10, IndexPrefix: testPrefix})
	defer l.Close()
	appendDurably(t, l, 300)
	l.WaitIndexed()
	if reads := segReads(); reads != 0 {
		t.Fatalf("the index writer read segments %d times; want none", reads)
	}
	built := 0
	for _, info := range l.Segments() {
		if !info.Sealed {
			continue
		}
		got, err := os.ReadFile(l.indexPath(info.Seq))
		if err != nil {
			t.Fatalf("segment %d: %v", info.Seq, err)
		}
		s := l.holdSealed(info.Seq)
		j := indexJob{seq: info.Seq, first: info.FirstIndex, count: int(info.LastIndex - info.FirstIndex + 1), segSize: info.Size}
		var want bytes.Buffer
		err = l.writeIndexRecords(&want, s, j)
		l.release(s)
		if err != nil {
			t.Fatalf("segment %d read back: %v", info.Seq, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("segment %d: index file of %d bytes differs from the %d bytes read back", info.Seq, len(got), want.Len())
		}
		built++
	}
	if built < 3 {
		t.Fatalf("%d sealed segments; the test wants several", built)
	}
}

// Group commits of many entries each, across several rolls, get index
// files from the flusher's records without a segment read, and a reopen
// replays them exactly as a scan does.
func TestIndexFilesFromChunksOfManyEntriesReplayAsAScanDoes(t *testing.T) {
	dir := t.TempDir()
	efs, reads := countSegmentReads()
	l, _, _ := openLog(t, Options{FS: efs, Dir: dir, SegmentBytes: 16 << 10, IndexPrefix: testPrefix})
	var last Appended
	for i := range 3000 {
		a, err := l.Append(uint64(1+i%3), payloadOf(i), Mark{})
		if err != nil {
			t.Fatal(err)
		}
		last = a
		if i%700 == 0 {
			l.Roll()
		}
	}
	if err := last.Wait(); err != nil {
		t.Fatal(err)
	}
	l.Roll()
	if a, err := l.Append(1, payloadOf(1), Mark{}); err != nil || a.Wait() != nil {
		t.Fatalf("append after the last roll: %v", err)
	}
	l.WaitIndexed()
	l.Close()
	if n := reads(); n != 0 {
		t.Fatalf("%d segment reads; want none", n)
	}
	l, indexed, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	l.Close()
	l, scanned, _ := openLog(t, Options{Dir: dir})
	l.Close()
	if rep.Indexed < rep.Segments-1 {
		t.Fatalf("%d of %d segments replayed from index files; want all but the active one", rep.Indexed, rep.Segments)
	}
	sameReplay(t, scanned, indexed, uint64(rep.Segments))
}

// A segment whose records would pass their bound gives them up early, keeps
// the buffer for the next segment, and is read back for its index file,
// which a reopen trusts.
func TestSegmentsOfSmallEntriesAreReadBackForTheirIndexFiles(t *testing.T) {
	dir := t.TempDir()
	efs, reads := countSegmentReads()
	l, _, _ := openLog(t, Options{FS: efs, Dir: dir, SegmentBytes: 4 << 10, IndexPrefix: testPrefix, liveIndexBytes: 64})
	appendDurably(t, l, 300)
	l.WaitIndexed()
	l.Close()
	if reads() == 0 {
		t.Fatal("no segment was read back, though every segment's records passed their bound")
	}
	l, indexed, rep := openLog(t, Options{Dir: dir, IndexPrefix: testPrefix})
	l.Close()
	l, scanned, _ := openLog(t, Options{Dir: dir})
	l.Close()
	if rep.Indexed < rep.Segments-1 || rep.Segments < 3 {
		t.Fatalf("%d of %d segments replayed from index files; want all but the active one, of several", rep.Indexed, rep.Segments)
	}
	sameReplay(t, scanned, indexed, uint64(rep.Segments))
}

// Records are given up once past their bound, or as soon as the first
// eighth of the segment shows they will pass it; either way their pieces
// are kept for the next segment. A torn frame gives them up too.
func TestLiveIndexRecordsAreGivenUpPastTheirBound(t *testing.T) {
	l, _, _ := openLog(t, Options{Dir: t.TempDir(), SegmentBytes: 1 << 20, IndexPrefix: testPrefix, liveIndexBytes: 64 << 10})
	defer l.Close()
	frame := appendFrame(nil, 1, 1, 1, make([]byte, 100), payloadCRC(make([]byte, 100)))
	spare := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.livePieces)
	}

	s := &segment{liveOn: true}
	end := int64(0)
	for !s.liveOff {
		end += int64(len(frame))
		l.recordLive(s, frame, end)
	}
	// 32-byte records of 132-byte frames: 1 MiB of them would take 254 KiB
	// of records, past the 64 KiB bound, which the first eighth shows.
	if end > 1<<20/8+int64(len(frame)) || s.live.pieces != nil {
		t.Fatalf("records given up at %d bytes of the segment, %d kept; want at its first eighth, none kept", end, s.live.n)
	}
	if spare() == 0 {
		t.Fatal("the records' piece was not kept for the next segment")
	}

	big := &segment{liveOn: true}
	records := 0
	for ; !big.liveOff; records++ {
		l.recordLive(big, frame, int64(len(frame))) // as if at the segment's start: only the bound stops it
	}
	if records*32 <= 64<<10 {
		t.Fatalf("records given up after %d; want past the 64 KiB bound", records)
	}
	if big.live.count != 0 || big.live.pieces != nil {
		t.Fatalf("records kept after they were given up: %d", big.live.count)
	}
	if n := spare(); n != 1 {
		t.Fatalf("%d pieces kept after two segments of records under a MiB; want the one reused", n)
	}

	torn := &segment{liveOn: true}
	l.recordLive(torn, frame[:len(frame)-1], int64(len(frame)-1))
	if !torn.liveOff {
		t.Fatal("a torn frame's records were kept")
	}
}
