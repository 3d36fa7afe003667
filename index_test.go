package millrace

import (
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
	var x entryIndex
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
		if i := x.search(func(e *indexEntry) bool { return e.last >= int64(from+10) }); i != 10 {
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
	var x entryIndex
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
	var x entryIndex
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
	var x entryIndex
	for i := range 3 {
		x.push(indexEntry{base: int64(i)})
	}
	if c := cap(x.blocks[0]); c > 8 {
		t.Fatalf("3 entries hold a block of capacity %d", c)
	}
}

// BenchmarkIndexPush appends 600,000 entries, as a partition's index grows,
// to a plain slice (the index before blocks) and to an entryIndex, and
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
		var x entryIndex
		run(b, func(e indexEntry) {
			if x.len() == n {
				x = entryIndex{}
			}
			x.push(e)
		})
	})
}

// segmentsFromScratch sums the entries up by segment the slow way: what
// the index's running summary must always equal.
func segmentsFromScratch(x *entryIndex) []segSpan {
	var out []segSpan
	for i := range x.len() {
		e := x.at(i)
		if i == 0 || x.at(i-1).seq != e.seq {
			out = append(out, segSpan{seq: e.seq, span: retention.Span{FirstOffset: e.base, MaxTimestamp: e.maxTs}})
		}
		s := &out[len(out)-1]
		s.n++
		s.span.LastOffset = e.last
		s.span.MaxTimestamp = max(s.span.MaxTimestamp, e.maxTs)
		s.span.Bytes += int64(e.size)
	}
	return out
}

// Whatever the pushes and drops, the index's summary by segment is the one
// its entries give: retention and describe read it instead of the entries.
func TestEntryIndexSegmentsMatchItsEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		var x entryIndex
		var off int64
		seq := uint64(1)
		for op := range 120 {
			if x.len() > 0 && rng.IntN(5) == 0 {
				k := rng.IntN(x.len() + 1)
				switch rng.IntN(3) {
				case 0: // exactly up to a segment boundary
					segs := x.segments()
					k = 0
					for _, sg := range segs[:rng.IntN(len(segs))+1] {
						k += sg.n
					}
				case 1: // all but one
					k = x.len() - 1
				}
				x.dropFront(k)
			} else {
				for range rng.IntN(indexBlock / 2) {
					if rng.IntN(50) == 0 {
						seq += uint64(1 + rng.IntN(2))
					}
					n := int64(1 + rng.IntN(20))
					x.push(indexEntry{base: off, last: off + n - 1, maxTs: rng.Int64N(1e6), seq: seq, size: int32(60 + rng.IntN(4000))})
					off += n
				}
			}
			want := segmentsFromScratch(&x)
			if got := x.segments(); !slices.Equal(got, want) {
				t.Fatalf("round %d, op %d: segments\n%+v\nwant\n%+v", round, op, got, want)
			}
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
	for i := range 550_000 {
		x.push(indexEntry{base: int64(i), last: int64(i), seq: uint64(i / 20_000), size: 3000})
	}
	b.Run("entries", func(b *testing.B) {
		for range b.N {
			segmentsFromScratch(&x)
		}
	})
	b.Run("summary", func(b *testing.B) {
		var out []retention.Span
		for range b.N {
			out = spansOf(&x, 27, out[:0])
		}
	})
}
