package millrace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func openT(t *testing.T, opts Options) *Log {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func recs(n int, prefix string) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i)),
			Headers: []Header{{Key: "h", Value: []byte("v")}}}
	}
	return out
}

func TestOffsetsAreDenseAndRecordsRoundTrip(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	if _, err := l.CreateTopic("orders", 3, nil); err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	for i := range 10 {
		res, err := l.Append(ctx, "orders", 1, recs(i+1, fmt.Sprint(i)), AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != next || res.LastOffset != next+int64(i) {
			t.Fatalf("append %d got offsets %d..%d, want from %d", i, res.BaseOffset, res.LastOffset, next)
		}
		next = res.LastOffset + 1
	}
	got, res, err := l.Read("orders", 1, 0, ReadOptions{MaxRecords: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 55 || res.NextOffset != 55 || res.HighWatermark != 55 || res.DurableOffset != 55 {
		t.Fatalf("read %d records, result %+v", len(got), res)
	}
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
	if string(got[1].Value) != "1-0" || string(got[1].Headers[0].Value) != "v" {
		t.Fatalf("record 1 = %+v", got[1])
	}
	mid, _, err := l.Read("orders", 1, 20, ReadOptions{MaxRecords: 3})
	if err != nil || len(mid) != 3 || mid[0].Offset != 20 {
		t.Fatalf("read from the middle of a batch: %v %+v", err, mid)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir(), DisableAutoCreate: true})
	ctx := context.Background()
	if _, err := l.Append(ctx, "nope", 0, recs(1, "x"), AppendOptions{}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	l.CreateTopic("t", 1, nil)
	if _, err := l.CreateTopic("t", 1, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := l.Append(ctx, "t", 5, recs(1, "x"), AppendOptions{}); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
	if _, _, err := l.Read("t", 0, 1, ReadOptions{}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the end: %v", err)
	}
	if _, err := l.AppendBatch(ctx, "t", 0, []byte("not a batch at all, not at all, really not a batch, no"), AppendOptions{}); err == nil {
		t.Fatal("garbage batch accepted")
	}
	if _, err := l.CreateTopic("bad/name", 1, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	exp := int64(3)
	if _, err := l.Append(ctx, "t", 0, recs(1, "x"), AppendOptions{ExpectedOffset: &exp}); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("expected offset: %v", err)
	}
	exp = 0
	if _, err := l.Append(ctx, "t", 0, recs(1, "x"), AppendOptions{ExpectedOffset: &exp}); err != nil {
		t.Fatalf("matching expected offset: %v", err)
	}
}

func TestAutoCreateOnFirstWrite(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir(), DefaultPartitions: 2})
	if _, err := l.Append(context.Background(), "fresh", 1, recs(1, "x"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Partitions("fresh"); err != nil || n != 2 {
		t.Fatalf("auto-created topic has %d partitions, %v", n, err)
	}
}

func TestReopenKeepsTopicsOffsetsAndData(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l.CreateTopic("a", 2, nil)
	for i := range 50 {
		if _, err := l.Append(ctx, "a", int32(i%2), recs(3, fmt.Sprint(i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openT(t, Options{Dir: dir, SegmentBytes: 4096})
	_, parts, err := l2.DescribeTopic("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if p.HighWatermark != 75 || p.LogStartOffset != 0 {
			t.Fatalf("after reopen partition %+v", p)
		}
	}
	got, _, err := l2.Read("a", 0, 0, ReadOptions{MaxRecords: 1000, MaxBytes: 1 << 30})
	if err != nil || len(got) != 75 || string(got[74].Value) != "48-2" {
		t.Fatalf("read after reopen: %d records, %v", len(got), err)
	}
	res, err := l2.Append(ctx, "a", 0, recs(1, "new"), AppendOptions{})
	if err != nil || res.BaseOffset != 75 {
		t.Fatalf("append after reopen got offset %d, %v", res.BaseOffset, err)
	}
}

func TestOffsetForTime(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 10 {
		rs := recs(10, "x")
		for j := range rs {
			rs[j].Timestamp = base.Add(time.Duration(i*10+j) * time.Second)
		}
		if _, err := l.Append(ctx, "t", 0, rs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Hour), 0},
		{base, 0},
		{base.Add(37 * time.Second), 37},
		{base.Add(36500 * time.Millisecond), 37},
		{base.Add(99 * time.Second), 99},
		{base.Add(time.Hour), 100},
	} {
		got, err := l.OffsetForTime("t", 0, tc.at)
		if err != nil || got != tc.want {
			t.Errorf("OffsetForTime(%v) = %d, %v; want %d", tc.at.Sub(base), got, err, tc.want)
		}
	}
}

func TestWaitWakesOnAppend(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.CreateTopic("t", 1, nil)
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, "t", 0, 0, true) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned before any append: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := l.Append(ctx, "t", 0, recs(1, "x"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	short, c2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer c2()
	if err := l.Wait(short, "t", 0, 1, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with no new data: %v", err)
	}
}

func TestFollowDeliversRecordsAsTheyArrive(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.CreateTopic("t", 1, nil)
	var got []string
	stop := errors.New("stop")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := l.Follow(ctx, "t", 0, 0, ReadOptions{}, func(r Record) error {
			got = append(got, string(r.Value))
			if len(got) == 20 {
				return stop
			}
			return nil
		})
		if err != stop {
			t.Error(err)
		}
	}()
	for i := range 20 {
		l.Append(ctx, "t", 0, []Record{{Value: []byte(fmt.Sprint(i))}}, AppendOptions{Ack: AckMemory})
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if len(got) != 20 || got[19] != "19" {
		t.Fatalf("followed %v", got)
	}
}

func TestTruncateAndRetention(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1_700_000_000_000)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := openT(t, Options{Dir: dir, SegmentBytes: 2048, Now: clock, RetentionInterval: time.Hour})
	ctx := context.Background()
	cfg := DefaultTopicConfig()
	cfg.RetentionMs = 60_000
	l.CreateTopic("t", 1, &cfg)
	for i := range 100 {
		rs := recs(2, fmt.Sprint(i))
		rs[0].Timestamp, rs[1].Timestamp = now, now
		if _, err := l.Append(ctx, "t", 0, rs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if start, err := l.Truncate("t", 0, 50); err != nil || start != 50 {
		t.Fatalf("truncate: %d %v", start, err)
	}
	if _, _, err := l.Read("t", 0, 49, ReadOptions{}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	if got, _, err := l.Read("t", 0, 50, ReadOptions{}); err != nil || got[0].Offset != 50 {
		t.Fatalf("read at the log start: %v", err)
	}
	rep, err := l.EnforceRetention()
	if err != nil || rep.SegmentsDeleted == 0 {
		t.Fatalf("truncation should free segments: %+v %v", rep, err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if rep, err = l.EnforceRetention(); err != nil || rep.Partitions != 1 {
		t.Fatalf("age retention: %+v %v", rep, err)
	}
	start, hw, _, _ := l.Watermarks("t", 0)
	if hw != 200 || start < 150 {
		t.Fatalf("after age retention: start %d hw %d", start, hw)
	}
	l.Close()
	l2 := openT(t, Options{Dir: dir, SegmentBytes: 2048, Now: clock})
	start2, hw2, _, _ := l2.Watermarks("t", 0)
	if start2 != start || hw2 != 200 {
		t.Fatalf("after reopen: start %d hw %d; before: start %d", start2, hw2, start)
	}
}

func TestSizeRetentionKeepsTheNewestBytes(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir(), SegmentBytes: 4096, RetentionInterval: time.Hour})
	cfg := DefaultTopicConfig()
	cfg.RetentionBytes = 8192
	l.CreateTopic("t", 1, &cfg)
	ctx := context.Background()
	for i := range 200 {
		if _, err := l.Append(ctx, "t", 0, []Record{{Value: bytes.Repeat([]byte{'v'}, 200)}}, AppendOptions{Ack: AckMemory}); err != nil {
			t.Fatal(err)
		}
		_ = i
	}
	if _, err := l.Append(ctx, "t", 0, recs(1, "last"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	_, parts, _ := l.DescribeTopic("t")
	if parts[0].Bytes > 8192 || parts[0].LogStartOffset == 0 {
		t.Fatalf("size retention left %+v", parts[0])
	}
}

func TestDeleteTopicFreesItsSegments(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir(), SegmentBytes: 1024, RetentionInterval: time.Hour})
	ctx := context.Background()
	for range 50 {
		l.Append(ctx, "gone", 0, recs(3, "x"), AppendOptions{})
	}
	if err := l.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	l.Append(ctx, "other", 0, recs(1, "x"), AppendOptions{})
	rep, err := l.EnforceRetention()
	if err != nil || rep.SegmentsDeleted == 0 {
		t.Fatalf("deleted topic's segments not reclaimed: %+v %v", rep, err)
	}
	if _, _, err := l.Read("gone", 0, 0, ReadOptions{}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("read of a deleted topic: %v", err)
	}
}

// A partition truncated to its high watermark releases the segment its
// last batches are in; appending again to that same (active) segment must
// refer to it again, or retention deletes acknowledged records once the
// segment is sealed and the other partitions leave it. (Found in review:
// the reference was counted once per partition and segment, not per run of
// the partition's index, so the second run went uncounted.)
func TestTruncateToTheHighWatermarkThenAppendKeepsTheSegment(t *testing.T) {
	cfg := DefaultTopicConfig()
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	opts := Options{Dir: t.TempDir(), SegmentBytes: 4096, DefaultConfig: &cfg}
	l := openT(t, opts)
	ctx := context.Background()
	l.CreateTopic("t", 1, nil)
	l.CreateTopic("u", 1, nil)
	for range 3 {
		if _, err := l.Append(ctx, "t", 0, recs(1, "a"), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Truncate("t", 0, 3); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := l.Append(ctx, "t", 0, recs(1, "b"), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 { // seal segments with another topic's records
		if _, err := l.Append(ctx, "u", 0, recs(1, fmt.Sprint("u", i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Truncate("u", 0, 150); err != nil { // u leaves the early segments
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"after retention", "after a restart"} {
		got, _, err := l.Read("t", 0, 3, ReadOptions{})
		if err != nil || len(got) != 2 || string(got[1].Value) != "b-0" {
			t.Fatalf("%s: read at 3: %d records, %v; want the 2 acknowledged", when, len(got), err)
		}
		l.Close()
		l = openT(t, opts)
	}
	l.Close()
}
