package millrace

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/batch"
)

// observed is what a reader and an idempotent producer can observe of
// partition 0 of topic t.
type observed struct {
	Parts   []PartitionInfo
	Values  []string
	ForTime []int64
}

func stateOf(t *testing.T, l *Log) observed {
	t.Helper()
	var o observed
	_, parts, err := l.DescribeTopic("t")
	if err != nil {
		t.Fatal(err)
	}
	o.Parts = parts
	for off := int64(0); ; {
		recs, _, err := l.Read("t", 0, off, ReadOptions{MaxRecords: 1000, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			o.Values = append(o.Values, fmt.Sprintf("%d:%s@%d", r.Offset, r.Value, r.Timestamp.UnixMilli()))
		}
		off = recs[len(recs)-1].Offset + 1
	}
	for _, ms := range []int64{0, 1_700_000_000_050, 1_700_000_000_199, 1_700_000_009_999} {
		off, err := l.OffsetForTime("t", 0, time.UnixMilli(ms))
		if err != nil {
			t.Fatal(err)
		}
		o.ForTime = append(o.ForTime, off)
	}
	return o
}

// openSmallSegments opens a Log in a new directory with 4 KiB segments, so
// that a few appends seal several; the caller closes it and reopens with
// the options returned.
func openSmallSegments(t *testing.T) (*Log, Options) {
	t.Helper()
	opts := Options{Dir: t.TempDir(), SegmentBytes: 4096}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, opts
}

// A restart replays sealed segments from their index files (the batch
// headers) instead of reading them, and ends in the same state as one
// that reads them: the same partitions, records, offsets for times, and an
// idempotent producer's retry of its last batch is still known.
func TestRestartFromIndexFilesKeepsEverything(t *testing.T) {
	ctx := context.Background()
	l, opts := openSmallSegments(t)
	l.CreateTopic("t", 1, nil)
	var bb batch.Builder
	var last []byte
	var err error
	for i := range 200 {
		bb.Reset(batch.BuildOptions{Idempotent: true, ProducerID: 9, BaseSequence: int32(2 * i)})
		for k := range 2 {
			bb.Add(batch.Record{Timestamp: 1_700_000_000_000 + int64(i), Value: []byte(fmt.Sprintf("v%d.%d", i, k))})
		}
		if last, err = bb.AppendTo(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendBatch(ctx, "t", 0, last, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := stateOf(t, l)
	l.shards[0].cl().WaitIndexed()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		l := openT(t, opts)
		rep := l.Recovery[0]
		// The first restart scans the segment that was active at Close
		// (and writes its index file); the second reads no segment.
		if wantIndexed := rep.Segments - 1 + round; rep.Segments < 5 || rep.Indexed != wantIndexed {
			t.Fatalf("restart %d: %d of %d segments from index files, want %d", round+1, rep.Indexed, rep.Segments, wantIndexed)
		}
		if got := stateOf(t, l); !reflect.DeepEqual(got, want) {
			t.Fatalf("restart %d: state differs from before:\n got %+v\nwant %+v", round+1, got, want)
		}
		dup, err := l.AppendBatch(ctx, "t", 0, last, AppendOptions{})
		if err != nil || !dup.Duplicate || dup.BaseOffset != 398 {
			t.Fatalf("restart %d: the last batch again: %+v, %v; want a duplicate at 398", round+1, dup, err)
		}
		l.shards[0].cl().WaitIndexed()
		l.Close()
	}
}

// Deleting a topic frees its segments, wherever they are in the commit log:
// a restart after retention deleted segments from the middle keeps every
// record of the other topics. (Recovery used to take the skip in entry
// indexes for a torn log and cut there, moving the later segments aside.)
func TestRestartAfterRetentionDeletedMiddleSegments(t *testing.T) {
	ctx := context.Background()
	l, opts := openSmallSegments(t)
	l.CreateTopic("a", 1, nil)
	l.CreateTopic("b", 1, nil)
	for i := range 40 {
		if _, err := l.Append(ctx, "b", 0, recs(1, fmt.Sprint("b", i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		if i == 19 { // segments holding only a's records
			for range 100 {
				if _, err := l.Append(ctx, "a", 0, recs(20, "a"), AppendOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	before := len(l.shards[0].cl().Segments())
	if err := l.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if after := len(l.shards[0].cl().Segments()); after >= before {
		t.Fatalf("%d segments before deleting topic a, %d after retention; the test needs some deleted", before, after)
	}
	l.Close()
	l2 := openT(t, opts)
	if rep := l2.Recovery[0]; rep.Cut != nil {
		t.Fatalf("restart cut the log: %+v", rep.Cut)
	}
	got, _, err := l2.Read("b", 0, 0, ReadOptions{MaxRecords: 100, MaxBytes: 1 << 20})
	if err != nil || len(got) != 40 || string(got[39].Value) != "b39-0" {
		t.Fatalf("topic b after the restart: %d records (%v); want all 40", len(got), err)
	}
}

// Options reach the shard's commit log: index files with the batch header
// as their prefix, and DropSealedPageCache and PreallocateSegments as asked.
func TestCommitLogOptionsCarryIndexAndPageCacheSettings(t *testing.T) {
	for _, on := range []bool{false, true} {
		l := openT(t, Options{Dir: t.TempDir(), DropSealedPageCache: on, PreallocateSegments: on})
		o := l.commitlogOptions(l.shards[0], false)
		if o.IndexPrefix != batch.HeaderSize || o.DropSealedCache != on || o.NoPreallocate == on {
			t.Fatalf("DropSealedPageCache and PreallocateSegments %v: commit log options IndexPrefix %d, DropSealedCache %v, NoPreallocate %v",
				on, o.IndexPrefix, o.DropSealedCache, o.NoPreallocate)
		}
	}
}
