package millrace

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/retention"
)

// The index keeps every entry in order across blocks, finds by search,
// drops from the front a block at a time, and never holds a block larger
// than indexBlock.
func TestEntryIndexAcrossBlocks(t *testing.T) {
	var x entryBlocks
	const n = 3*indexBlock + 100
	for i := range n {
		x.push(indexEntry{base: int64(i), last: int64(i)})
	}
	if x.len() != n {
		t.Fatalf("len %d, want %d", x.len(), n)
	}
	for _, b := range x.blocks {
		if cap(b) > indexBlock {
			t.Fatalf("a block of capacity %d", cap(b))
		}
	}
	check := func(from int) {
		t.Helper()
		for i := range x.len() {
			if got := x.at(i).base; got != int64(from+i) {
				t.Fatalf("entry %d holds %d, want %d", i, got, from+i)
			}
		}
		if i := x.search(0, func(e *indexEntry) bool { return e.last >= int64(from+10) }); i != 10 {
			t.Fatalf("search for offset %d gave entry %d, want 10", from+10, i)
		}
	}
	check(0)
	x.dropFront(indexBlock + 5) // across a block boundary
	if x.len() != n-indexBlock-5 || len(x.blocks) != 3 {
		t.Fatalf("after dropping %d: len %d, %d blocks", indexBlock+5, x.len(), len(x.blocks))
	}
	check(indexBlock + 5)
	x.push(indexEntry{base: n, last: n})
	if got := x.at(x.len() - 1).base; got != n {
		t.Fatalf("pushed after a drop: last holds %d", got)
	}
	x.dropFront(x.len())
	if x.len() != 0 || x.blocks != nil {
		t.Fatalf("emptied index: len %d, %d blocks", x.len(), len(x.blocks))
	}
	x.push(indexEntry{base: 7})
	if x.len() != 1 || x.at(0).base != 7 {
		t.Fatal("an emptied index does not take a new entry")
	}
}

// A drop that ends exactly on a block boundary releases that block, for
// the collector too.
func TestEntryIndexDropOnABlockBoundary(t *testing.T) {
	var x entryBlocks
	for i := range 2*indexBlock + 10 {
		x.push(indexEntry{base: int64(i)})
	}
	before := x.blocks // shares the array x.blocks is resliced from
	x.dropFront(indexBlock)
	if len(x.blocks) != 2 || x.skip != 0 || x.at(0).base != indexBlock {
		t.Fatalf("after dropping one block: %d blocks, skip %d, first %d", len(x.blocks), x.skip, x.at(0).base)
	}
	if before[0] != nil {
		t.Fatal("the dropped block is still referenced, so never collected")
	}
}

// A partition trimmed again and again (retention, DeleteRecords) holds
// about what it keeps, not the blocks its dropped entries filled.
func TestEntryIndexTrimmedHoldsWhatItKeeps(t *testing.T) {
	var x entryBlocks
	held := func() (c int) {
		for _, b := range x.blocks {
			c += cap(b)
		}
		return c
	}
	for i := range 3 * indexBlock {
		x.push(indexEntry{base: int64(i)})
		if x.len() > 10 {
			x.dropFront(x.len() - 10)
		}
		if c := held(); c > 64 {
			t.Fatalf("after %d pushes, keeping 10 entries: %d entries of capacity held", i+1, c)
		}
	}
	for i := range 10 {
		if got, want := x.at(i).base, int64(3*indexBlock-10+i); got != want {
			t.Fatalf("entry %d holds %d, want %d", i, got, want)
		}
	}
	// A drop inside the one block, then pushes that make it grow.
	x.dropFront(3)
	for i := range 100 {
		x.push(indexEntry{base: int64(3*indexBlock + i)})
	}
	for i := range x.len() {
		if got, want := x.at(i).base, int64(3*indexBlock-7+i); got != want {
			t.Fatalf("after growing: entry %d holds %d, want %d", i, got, want)
		}
	}
}

// A partition with few batches pays for those, not for a block.
func TestEntryIndexOfFewEntriesIsSmall(t *testing.T) {
	var x entryBlocks
	for i := range 3 {
		x.push(indexEntry{base: int64(i)})
	}
	if c := cap(x.blocks[0]); c > 8 {
		t.Fatalf("3 entries hold a block of capacity %d", c)
	}
}

// BenchmarkIndexPush appends 600,000 entries, as a partition's index grows,
// to a plain slice (the index before blocks) and to an entryBlocks, and
// reports the slowest single append: the time a produce or fetch of the
// partition could wait behind it.
//
//	go test -run '^$' -bench IndexPush -benchtime 3x .
func BenchmarkIndexPush(b *testing.B) {
	const n = 600_000
	run := func(b *testing.B, push func(indexEntry)) {
		var worst time.Duration
		for range b.N {
			for i := range n {
				t0 := time.Now()
				push(indexEntry{base: int64(i), last: int64(i)})
				worst = max(worst, time.Since(t0))
			}
		}
		b.ReportMetric(float64(worst.Microseconds()), "worst-µs/push")
	}
	b.Run("slice", func(b *testing.B) {
		var s []indexEntry
		run(b, func(e indexEntry) {
			if len(s) == n {
				s = nil
			}
			s = append(s, e)
		})
	})
	b.Run("blocks", func(b *testing.B) {
		var x entryBlocks
		run(b, func(e indexEntry) {
			if x.len() == n {
				x = entryBlocks{}
			}
			x.push(e)
		})
	})
}

// refIndex is what an entryIndex must hold, the slow way: every entry in
// order, each marked hot or cold, with the summaries worked out from
// scratch.
type refIndex struct {
	entries []indexEntry
	cold    map[uint64]bool // segments made cold
}

func (r *refIndex) runs() []segRun {
	var out []segRun
	prev := int64(math.MinInt64)
	for _, e := range r.entries {
		if len(out) == 0 || out[len(out)-1].seq != e.seq {
			out = append(out, segRun{seq: e.seq, firstTs: e.firstTs, endMaxTs: prev, span: retention.Span{FirstOffset: e.base, MaxTimestamp: e.maxTs}})
		}
		s := &out[len(out)-1]
		s.n++
		s.span.LastOffset = e.last
		s.span.MaxTimestamp = max(s.span.MaxTimestamp, e.maxTs)
		s.span.Bytes += int64(e.size)
		s.endMaxTs = max(s.endMaxTs, e.maxTs)
		prev = s.endMaxTs
	}
	return out
}

// trim drops what trimBelow must: entries wholly below logStart, except,
// unless exact (the cold run's entries were read back), those of a cold
// segment that keeps an entry at or past it.
func (r *refIndex) trim(logStart int64, exact bool) {
	keepSeq := uint64(0)
	for _, e := range r.entries {
		if e.last >= logStart {
			keepSeq = e.seq
			break
		}
	}
	i := 0
	for i < len(r.entries) && r.entries[i].last < logStart && (exact || !(r.cold[r.entries[i].seq] && r.entries[i].seq == keepSeq)) {
		i++
	}
	r.entries = r.entries[i:]
}

// Whatever the appends, trims and runs turned cold, the index's runs
// summarize its entries as the slow way does, hot runs hold their entries
// in order, and the searches for the run of an offset or of a time land
// where a scan of every entry does.
func TestEntryIndexRunsMatchTheirEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		var x entryIndex
		ref := refIndex{cold: map[uint64]bool{}}
		var off int64
		seq := uint64(1)
		for op := range 120 {
			switch {
			case x.len() > 0 && rng.IntN(5) == 0:
				var ls int64
				switch rng.IntN(3) {
				case 0: // exactly up to a segment boundary
					runs := x.segments()
					ls = runs[rng.IntN(len(runs))].span.LastOffset + 1
				case 1: // all but the last batch
					ls = x.lastOffset()
				default:
					ls = ref.entries[0].base + rng.Int64N(x.lastOffset()-ref.entries[0].base+2)
				}
				// Half the time, a cold run ls falls inside comes with
				// its entries read back, and is trimmed exactly.
				var list *entryBlocks
				if ri := x.findRun(ls); ri < len(x.segments()) && x.segments()[ri].hot == nil && rng.IntN(2) == 0 {
					list = &entryBlocks{}
					for _, e := range ref.entries {
						if e.seq == x.segments()[ri].seq {
							list.push(e)
						}
					}
				}
				released := x.trimBelow(ls, list)
				before := ref.runs()
				ref.trim(ls, list != nil)
				var want []uint64
				after := ref.runs()
				for _, r := range before {
					if !slices.ContainsFunc(after, func(a segRun) bool { return a.seq == r.seq }) {
						want = append(want, r.seq)
					}
				}
				if !slices.Equal(released, want) {
					t.Fatalf("round %d, op %d: trim to %d released %v, want %v", round, op, ls, released, want)
				}
			case rng.IntN(4) == 0 && seq > 1:
				s := uint64(1 + rng.IntN(int(seq-1))) // a sealed segment
				x.makeCold(s)
				ref.cold[s] = true
			default:
				for range rng.IntN(indexBlock / 2) {
					if rng.IntN(50) == 0 {
						seq += uint64(1 + rng.IntN(2))
					}
					n := int64(1 + rng.IntN(20))
					e := indexEntry{base: off, last: off + n - 1, firstTs: rng.Int64N(1e6), maxTs: rng.Int64N(1e6), seq: seq, pos: off, size: int32(60 + rng.IntN(4000))}
					x.add(e, true)
					ref.entries = append(ref.entries, e)
					off += n
				}
			}
			checkIndex(t, &x, &ref, round, op)
		}
	}
}

func checkIndex(t *testing.T, x *entryIndex, ref *refIndex, round, op int) {
	t.Helper()
	want := ref.runs()
	got := x.segments()
	if len(got) != len(want) || x.len() != len(ref.entries) {
		t.Fatalf("round %d, op %d: %d runs of %d entries, want %d of %d", round, op, len(got), x.len(), len(want), len(ref.entries))
	}
	hot := 0
	byRun := make([][]indexEntry, len(want))
	i := 0
	for k, w := range want {
		byRun[k] = ref.entries[i : i+w.n]
		i += w.n
	}
	for k := range want {
		g := got[k]
		g.hot = nil
		if g != want[k] {
			t.Fatalf("round %d, op %d: run %d\n%+v\nwant\n%+v", round, op, k, g, want[k])
		}
		if (got[k].hot == nil) != ref.cold[g.seq] {
			t.Fatalf("round %d, op %d: run %d (segment %d) hot %v, cold in the reference %v", round, op, k, g.seq, got[k].hot != nil, ref.cold[g.seq])
		}
		if h := got[k].hot; h != nil {
			hot += h.len()
			if h.len() != len(byRun[k]) {
				t.Fatalf("round %d, op %d: run %d holds %d entries, want %d", round, op, k, h.len(), len(byRun[k]))
			}
			for j, e := range byRun[k] {
				if h.at(j).base != e.base || h.at(j).pos != e.pos {
					t.Fatalf("round %d, op %d: run %d entry %d at offset %d, want %d", round, op, k, j, h.at(j).base, e.base)
				}
			}
		}
	}
	if x.hotLen() != hot {
		t.Fatalf("round %d, op %d: hotLen %d, the runs hold %d", round, op, x.hotLen(), hot)
	}
	if len(ref.entries) == 0 {
		return
	}
	last := ref.entries[len(ref.entries)-1].last
	for range 20 {
		off := ref.entries[0].base + rand.Int64N(last-ref.entries[0].base+1)
		ri := x.findRun(off)
		wantRun := slices.IndexFunc(want, func(r segRun) bool { return r.span.LastOffset >= off })
		if ri != wantRun {
			t.Fatalf("round %d, op %d: offset %d in run %d, want %d", round, op, off, ri, wantRun)
		}
		ts := rand.Int64N(1e6)
		ri = x.findRunTime(ts)
		wantRun = slices.IndexFunc(want, func(r segRun) bool { return r.endMaxTs >= ts })
		if wantRun < 0 {
			wantRun = len(want)
		}
		if ri != wantRun {
			t.Fatalf("round %d, op %d: time %d in run %d, want %d", round, op, ts, ri, wantRun)
		}
	}
}

// BenchmarkRetentionSpans is the work a retention pass does, under the
// partition's lock, for a partition of 550,000 batches in 28 segments: from
// the entries (as before the index kept its summary) and from the summary.
//
//	go test -run '^$' -bench RetentionSpans .
func BenchmarkRetentionSpans(b *testing.B) {
	var x entryIndex
	ref := refIndex{}
	for i := range 550_000 {
		e := indexEntry{base: int64(i), last: int64(i), seq: uint64(i / 20_000), size: 3000}
		x.add(e, true)
		ref.entries = append(ref.entries, e)
	}
	b.Run("entries", func(b *testing.B) {
		for range b.N {
			ref.runs()
		}
	})
	b.Run("summary", func(b *testing.B) {
		var out []retention.Span
		for range b.N {
			out = spansOf(&x, 27, out[:0])
		}
	})
}
