package millrace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/millrace/millrace/internal/batch"
)

// fillColdTest opens a Log with 4 KiB segments and appends 200 batches of
// two records to partition 0 of topic t (timestamps 1_700_000_000_000 + i
// for batch i), each followed by a batch of topic u, so that segments hold
// both partitions' runs; then it waits until every sealed segment has its
// index file. It returns the Log and what a reader must observe of t.
func fillColdTest(t *testing.T, opts Options) (*Log, observed) {
	t.Helper()
	ctx := context.Background()
	l := openT(t, opts)
	l.CreateTopic("t", 1, nil)
	l.CreateTopic("u", 1, nil)
	var want observed
	var bb batch.Builder
	for i := range 200 {
		bb.Reset(batch.BuildOptions{})
		for k := range 2 {
			v := fmt.Sprintf("v%d.%d", i, k)
			ts := int64(1_700_000_000_000 + i)
			bb.Add(batch.Record{Timestamp: ts, Value: []byte(v)})
			want.Values = append(want.Values, fmt.Sprintf("%d:%s@%d", 2*i+k, v, ts))
		}
		b, err := bb.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendBatch(ctx, "t", 0, b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, "u", 0, recs(1, fmt.Sprint("u", i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// stateOf asks for the offsets of times 0, +50, +199 and +9999 ms.
	want.ForTime = []int64{0, 100, 398, 400}
	l.shards[0].cl().WaitIndexed()
	_, parts, err := l.DescribeTopic("t")
	if err != nil {
		t.Fatal(err)
	}
	want.Parts = parts
	return l, want
}

func partitionOf(t *testing.T, l *Log, topic string) *partition {
	t.Helper()
	p, _, err := l.lookup(topic, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Once a segment is sealed and its index file written, the partitions'
// entries of it leave memory: only the active segment's stay. Reads by
// offset and by time, MaxTimestamp and describing the partition then see
// exactly what they saw before, the entries read back from the index
// files.
func TestSealedSegmentsEntriesLeaveMemoryAndAreReadBack(t *testing.T) {
	l, want := fillColdTest(t, Options{Dir: t.TempDir(), SegmentBytes: 4096})
	defer l.Close()
	p := partitionOf(t, l, "t")
	p.mu.RLock()
	hot, n, runs := p.entries.hotLen(), p.entries.len(), len(p.entries.segments())
	p.mu.RUnlock()
	if n != 200 || runs < 10 {
		t.Fatalf("%d entries in %d runs; the test needs 200 in many segments", n, runs)
	}
	if hot > n/runs+1 {
		t.Fatalf("%d of %d entries still in memory after every sealed segment was indexed (%d runs)", hot, n, runs)
	}
	if got := stateOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("state read from cold runs:\n got %+v\nwant %+v", got, want)
	}
	if off, ts, err := l.MaxTimestamp("t", 0); err != nil || off != 398 || ts != 1_700_000_000_199 {
		t.Fatalf("MaxTimestamp: %d, %d, %v; want 398 at 1_700_000_000_199", off, ts, err)
	}
	st := l.Stats()
	if st.IndexCacheLoads == 0 || st.IndexCacheBytes == 0 {
		t.Fatalf("stats %+v: no segment was read back, the reads did not go through cold runs", st)
	}
	if st.IndexBatches != 400 || st.IndexBatchesInMemory > 2*int64(hot)+2 {
		t.Fatalf("stats count %d batches, %d in memory; want 400, about %d", st.IndexBatches, st.IndexBatchesInMemory, 2*hot)
	}
}

// A restart keeps the entries of segments replayed from index files out of
// memory from the start.
func TestRestartKeepsIndexedSegmentsCold(t *testing.T) {
	opts := Options{Dir: t.TempDir(), SegmentBytes: 4096}
	l, want := fillColdTest(t, opts)
	l.Close()
	l = openT(t, opts)
	defer l.Close()
	p := partitionOf(t, l, "t")
	p.mu.RLock()
	hot, n := p.entries.hotLen(), p.entries.len()
	p.mu.RUnlock()
	// The segment active at Close was scanned; its index file comes later.
	if rep := l.Recovery[0]; rep.Indexed != rep.Segments-1 || hot > n/rep.Segments+1 {
		t.Fatalf("%d of %d segments from index files; %d of %d entries in memory", rep.Indexed, rep.Segments, hot, n)
	}
	if got := stateOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("state after restart:\n got %+v\nwant %+v", got, want)
	}
}

// Reading a cold segment twice reads its index file once; with a cache
// smaller than one segment, the newest one is still kept, so a pass
// through the log reads each segment once, not once per fetch.
func TestColdSegmentsReadBackOncePerPass(t *testing.T) {
	for _, cache := range []int64{0, 1} {
		t.Run(fmt.Sprintf("IndexCacheBytes=%d", cache), func(t *testing.T) {
			l, _ := fillColdTest(t, Options{Dir: t.TempDir(), SegmentBytes: 4096, IndexCacheBytes: cache})
			defer l.Close()
			p := partitionOf(t, l, "t")
			p.mu.RLock()
			runs := len(p.entries.segments())
			p.mu.RUnlock()
			for pass := range 2 {
				before := l.cold.loads.Load()
				// One batch per read: many reads per segment.
				for off := int64(0); off < 400; off += 2 {
					recs, _, err := l.Read("t", 0, off, ReadOptions{MaxBytes: 1})
					if err != nil || len(recs) != 2 || recs[0].Offset != off {
						t.Fatalf("read at %d: %d records, %v", off, len(recs), err)
					}
				}
				loads := l.cold.loads.Load() - before
				switch {
				case cache == 0 && pass == 1 && loads != 0:
					t.Fatalf("second pass with the default cache read %d segments back; want none", loads)
				case loads > int64(runs):
					t.Fatalf("pass %d read %d segments back for %d runs", pass+1, loads, runs)
				}
			}
			// The cache counts the memory its entries hold, capacity
			// included, and little is spare (an allocation's size class).
			l.cold.mu.Lock()
			entries := 0
			for e := l.cold.lru.Front(); e != nil; e = e.Next() {
				for _, b := range e.Value.(*coldItem).seg.parts {
					entries += b.len()
				}
			}
			held, segs := l.cold.bytes, l.cold.lru.Len()
			l.cold.mu.Unlock()
			need := int64(entries) * int64(unsafe.Sizeof(indexEntry{}))
			if held < need || held > need+need/8 || (cache == 1 && segs != 1) {
				t.Fatalf("the cache counts %d bytes in %d segments for %d entries", held, segs, entries)
			}
		})
	}
}

// Without its index file (removed by hand), a cold run's segment is read
// itself: nothing acknowledged becomes unreadable.
func TestColdRunWithoutItsIndexFileReadsTheSegment(t *testing.T) {
	l, want := fillColdTest(t, Options{Dir: t.TempDir(), SegmentBytes: 4096})
	defer l.Close()
	idx, err := filepath.Glob(filepath.Join(l.opts.Dir, "shards", "0", "*.idx"))
	if err != nil || len(idx) < 5 {
		t.Fatalf("%d index files (%v); the test needs several", len(idx), err)
	}
	for _, f := range idx {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := stateOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("state without index files:\n got %+v\nwant %+v", got, want)
	}
}

// Truncating inside a cold run: reads start at the new log start, and an
// offset for a time before it is the log start, not an offset below it.
func TestTruncateInsideAColdRun(t *testing.T) {
	l, _ := fillColdTest(t, Options{Dir: t.TempDir(), SegmentBytes: 4096})
	defer l.Close()
	p := partitionOf(t, l, "t")
	p.mu.RLock()
	r := p.entries.segments()[2]
	p.mu.RUnlock()
	if r.hot != nil || r.span.LastOffset-r.span.FirstOffset < 4 {
		t.Fatalf("run %+v: the test needs a cold run of several batches", r)
	}
	cut := r.span.FirstOffset + 3 // inside its second batch
	if _, err := l.Truncate("t", 0, cut); err != nil {
		t.Fatal(err)
	}
	recs, _, err := l.Read("t", 0, cut, ReadOptions{})
	if err != nil || len(recs) == 0 || recs[0].Offset != cut {
		t.Fatalf("read at the new log start %d: %d records, %v", cut, len(recs), err)
	}
	if off, err := l.OffsetForTime("t", 0, time.UnixMilli(0)); err != nil || off != cut {
		t.Fatalf("offset for time 0 after truncating to %d: %d, %v", cut, off, err)
	}
	if _, _, err := l.Read("t", 0, cut-1, ReadOptions{}); err == nil {
		t.Fatalf("read below the log start %d succeeded", cut)
	}
}

// After Truncate inside a segment, the offset for a time and the largest
// timestamp come from the batches kept, not from those below the log
// start, whether the run is hot, cold, or cold after a restart. Batch 0
// holds the largest timestamp (+1000 ms), batch 5 the largest kept
// (+500 ms), every other +1 ms. (Found in review: a cold run's entries,
// read back, carried running maxima from below the log start.)
func TestTimeLookupsAfterTruncateInsideASegment(t *testing.T) {
	const base = int64(1_700_000_000_000)
	for _, cold := range []bool{false, true} {
		opts := Options{Dir: t.TempDir(), SegmentBytes: 4096}
		if !cold {
			opts.SegmentBytes = 1 << 20 // one active segment: the run stays hot
		}
		ctx := context.Background()
		l := openT(t, opts)
		l.CreateTopic("t", 1, nil)
		var bb batch.Builder
		for i := range 100 {
			ts := base + 1
			switch i {
			case 0:
				ts = base + 1000
			case 5:
				ts = base + 500
			}
			bb.Reset(batch.BuildOptions{})
			bb.Add(batch.Record{Timestamp: ts, Value: []byte(fmt.Sprintf("v%03d-%s", i, "padding-padding-padding-padding"))})
			b, err := bb.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.AppendBatch(ctx, "t", 0, b, AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		l.shards[0].cl().WaitIndexed()
		p := partitionOf(t, l, "t")
		p.mu.RLock()
		isCold := p.entries.segments()[0].hot == nil
		p.mu.RUnlock()
		if isCold != cold {
			t.Fatalf("the first run is cold: %v, want %v", isCold, cold)
		}
		if _, err := l.Truncate("t", 0, 1); err != nil {
			t.Fatal(err)
		}
		for _, when := range []string{"running", "after a restart"} {
			off, ts, err := l.MaxTimestamp("t", 0)
			if err != nil || off != 5 || ts != base+500 {
				t.Fatalf("cold %v, %s: MaxTimestamp %d at +%d ms (%v); want offset 5 at +500", cold, when, off, ts-base, err)
			}
			if o, err := l.OffsetForTime("t", 0, time.UnixMilli(base+500)); err != nil || o != 5 {
				t.Fatalf("cold %v, %s: offset for +500 ms %d (%v); want 5", cold, when, o, err)
			}
			if o, err := l.OffsetForTime("t", 0, time.UnixMilli(base+501)); err != nil || o != 100 {
				t.Fatalf("cold %v, %s: offset for +501 ms %d (%v); want the high watermark 100", cold, when, o, err)
			}
			_, parts, _ := l.DescribeTopic("t")
			if pi := parts[0]; pi.Batches != 99 || pi.LastTimestamp != base+500 {
				t.Fatalf("cold %v, %s: describe %d batches, last timestamp +%d; want 99, +500", cold, when, pi.Batches, pi.LastTimestamp-base)
			}
			l.Close()
			l = openT(t, opts)
		}
		l.Close()
	}
}
