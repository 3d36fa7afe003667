package manifest

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// span builds a span of segment shard/seq for a partition.
func span(shard int32, seq uint64, pid, first, last int64) Span {
	return Span{Shard: shard, Seq: seq, PartitionID: pid, FirstOffset: first, LastOffset: last,
		FirstTimestamp: 1000 + first, MaxTimestamp: 1000 + last, Bytes: 100 * (last - first + 1),
		Records: last - first + 1, Batches: 1}
}

func nextOffsets(t *testing.T, m *Manifest, topic string) []int64 {
	t.Helper()
	ps, err := m.TopicPartitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, p := range ps {
		out = append(out, p.NextOffset)
	}
	return out
}

func TestSegmentLifecycle(t *testing.T) {
	m := openTest(t)
	_, ps := mustCreate(t, m, "t", 2, nil)
	a, b := ps[0].ID, ps[1].ID
	t0 := time.Unix(1700000000, 123).UTC()

	for _, seq := range []uint64{2, 1, 3} {
		if err := m.AddSegment(0, seq, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddSegment(0, 1, t0.Add(time.Hour)); err != nil { // idempotent
		t.Fatalf("AddSegment again: %v", err)
	}
	seg := Segment{Shard: 0, Seq: 1, CreatedAt: t0, SealedAt: t0.Add(time.Minute), Bytes: 4096,
		FirstIndex: 1, LastIndex: math.MaxUint64}
	spans := []Span{span(0, 1, b, 0, 4), span(0, 1, a, 0, 9)}
	if err := m.SealSegment(seg, spans, map[int64]int64{a: 10, b: 5}); err != nil {
		t.Fatal(err)
	}
	segs, err := m.Segments(0)
	if err != nil {
		t.Fatal(err)
	}
	wantSealed := seg
	wantSealed.Sealed = true
	want := []Segment{wantSealed, {Shard: 0, Seq: 2, CreatedAt: t0}, {Shard: 0, Seq: 3, CreatedAt: t0}}
	if !reflect.DeepEqual(segs, want) {
		t.Errorf("Segments =\n%+v\nwant\n%+v", segs, want)
	}
	if got := nextOffsets(t, m, "t"); !reflect.DeepEqual(got, []int64{10, 5}) {
		t.Errorf("next offsets = %v, want [10 5]", got)
	}
	shardSpans, _ := m.ShardSpans(0)
	if wantSpans := []Span{spans[1], spans[0]}; !reflect.DeepEqual(shardSpans, wantSpans) { // by partition ID
		t.Errorf("ShardSpans = %+v, want %+v", shardSpans, wantSpans)
	}

	// Sealing the same seq again is idempotent, and replaces the spans.
	for i := 0; i < 2; i++ {
		if err := m.SealSegment(seg, spans[1:], map[int64]int64{a: 10, b: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := m.ShardSpans(0); !reflect.DeepEqual(got, spans[1:]) {
		t.Errorf("after re-seal ShardSpans = %+v, want %+v", got, spans[1:])
	}
	if got := nextOffsets(t, m, "t"); !reflect.DeepEqual(got, []int64{10, 5}) {
		t.Errorf("after re-seal next offsets = %v, want [10 5] (never lowered)", got)
	}
	if segs, _ = m.Segments(0); len(segs) != 3 || !reflect.DeepEqual(segs[0], wantSealed) {
		t.Errorf("after re-seal Segments = %+v", segs)
	}

	// Spans of a partition come ordered by first offset across segments.
	if err := m.SealSegment(Segment{Shard: 0, Seq: 3, CreatedAt: t0}, []Span{span(0, 3, a, 20, 29)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.SealSegment(Segment{Shard: 0, Seq: 2, CreatedAt: t0}, []Span{span(0, 2, a, 10, 19)}, nil); err != nil {
		t.Fatal(err)
	}
	aSpans, _ := m.Spans(a)
	if len(aSpans) != 3 || aSpans[0].FirstOffset != 0 || aSpans[1].FirstOffset != 10 || aSpans[2].FirstOffset != 20 {
		t.Errorf("Spans(a) = %+v", aSpans)
	}

	// DeleteSegment removes the segment and its spans, nothing else.
	if err := m.DeleteSegment(0, 2); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSegment(0, 2); err != nil {
		t.Errorf("DeleteSegment of a missing segment: %v", err)
	}
	aSpans, _ = m.Spans(a)
	if len(aSpans) != 2 || aSpans[0].Seq != 1 || aSpans[1].Seq != 3 {
		t.Errorf("Spans(a) after delete = %+v", aSpans)
	}
	if segs, _ = m.Segments(0); len(segs) != 2 || segs[0].Seq != 1 || segs[1].Seq != 3 {
		t.Errorf("Segments after delete = %+v", segs)
	}
}

// TestSealSegmentAtomic makes the last statement of a seal fail inside the
// database and checks that nothing of the seal remains.
func TestSealSegmentAtomic(t *testing.T) {
	m := openTest(t)
	_, ps := mustCreate(t, m, "t", 2, nil)
	a, b := ps[0].ID, ps[1].ID
	if err := m.AddSegment(4, 7, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Exec(`CREATE TEMP TRIGGER fail_next_offset BEFORE UPDATE OF next_offset ON partitions
		WHEN NEW.next_offset = 666 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	seg := Segment{Shard: 4, Seq: 7, CreatedAt: time.Unix(1, 0), Bytes: 10}
	err := m.SealSegment(seg, []Span{span(4, 7, a, 0, 1), span(4, 7, b, 0, 1)}, map[int64]int64{a: 2, b: 666})
	if err == nil {
		t.Fatal("SealSegment succeeded despite the injected failure")
	}
	segs, _ := m.Segments(4)
	if len(segs) != 1 || segs[0].Sealed || segs[0].Bytes != 0 {
		t.Errorf("segment changed by a failed seal: %+v", segs)
	}
	if sp, _ := m.ShardSpans(4); len(sp) != 0 {
		t.Errorf("failed seal left spans %+v", sp)
	}
	if got := nextOffsets(t, m, "t"); !reflect.DeepEqual(got, []int64{0, 0}) {
		t.Errorf("failed seal changed next offsets to %v", got)
	}
}

func TestSealSegmentRejects(t *testing.T) {
	m := openTest(t)
	_, ps := mustCreate(t, m, "t", 1, nil)
	a := ps[0].ID
	seg := Segment{Shard: 1, Seq: 1}
	tests := []struct {
		name  string
		seg   Segment
		spans []Span
	}{
		{"span of another seq", seg, []Span{span(1, 2, a, 0, 0)}},
		{"span of another shard", seg, []Span{span(0, 1, a, 0, 0)}},
		{"two spans for a partition", seg, []Span{span(1, 1, a, 0, 0), span(1, 1, a, 1, 1)}},
		{"offsets reversed", seg, []Span{span(1, 1, a, 5, 4)}},
		{"negative shard", Segment{Shard: -1, Seq: 1}, nil},
		{"seq too large", Segment{Shard: 1, Seq: math.MaxInt64 + 1}, nil},
	}
	for _, tc := range tests {
		if err := m.SealSegment(tc.seg, tc.spans, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: SealSegment: %v, want ErrInvalid", tc.name, err)
		}
	}
	if segs, _ := m.Segments(1); len(segs) != 0 {
		t.Errorf("rejected seals left segments %+v", segs)
	}
}

// A topic deleted while its data sat in an open segment must not make the
// seal fail: its spans and next offsets are dropped.
func TestSealSegmentAfterTopicDelete(t *testing.T) {
	m := openTest(t)
	_, gone := mustCreate(t, m, "gone", 1, nil)
	_, kept := mustCreate(t, m, "kept", 1, nil)
	if err := m.AddSegment(0, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	spans := []Span{span(0, 1, gone[0].ID, 0, 9), span(0, 1, kept[0].ID, 0, 4)}
	if err := m.SealSegment(Segment{Shard: 0, Seq: 1}, spans, map[int64]int64{gone[0].ID: 10, kept[0].ID: 5}); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.ShardSpans(0); !reflect.DeepEqual(got, spans[1:]) {
		t.Errorf("ShardSpans = %+v, want only the kept partition's", got)
	}
	// Deleting the other topic now removes its spans but not the segment.
	if _, _, err := m.DeleteTopic("kept"); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.ShardSpans(0); len(got) != 0 {
		t.Errorf("spans of a deleted topic remain: %+v", got)
	}
	if segs, _ := m.Segments(0); len(segs) != 1 {
		t.Errorf("DeleteTopic removed segments: %+v", segs)
	}
}
