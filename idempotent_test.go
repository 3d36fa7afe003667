package millrace

import (
	"context"
	"errors"
	"testing"

	"github.com/millrace/millrace/internal/batch"
)

func idemBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	var bb batch.Builder
	bb.Reset(batch.BuildOptions{Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	for i := range n {
		bb.Add(batch.Record{Timestamp: 1_700_000_000_000, Value: []byte{byte(i)}})
	}
	b, err := bb.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdempotentProducerRetriesAreNotStoredTwiceEvenAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l.CreateTopic("t", 1, nil)
	r1, err := l.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 0, 3), AppendOptions{})
	if err != nil || r1.Duplicate || r1.BaseOffset != 0 {
		t.Fatalf("first batch: %+v %v", r1, err)
	}
	r2, err := l.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 3, 2), AppendOptions{})
	if err != nil || r2.BaseOffset != 3 {
		t.Fatalf("second batch: %+v %v", r2, err)
	}
	dup, err := l.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 0, 3), AppendOptions{})
	if err != nil || !dup.Duplicate || dup.BaseOffset != 0 || dup.LastOffset != 2 {
		t.Fatalf("retry of the first batch: %+v %v", dup, err)
	}
	if _, err := l.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 9, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap: %v", err)
	}
	l.Close()

	l2 := openT(t, Options{Dir: dir})
	dup2, err := l2.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 3, 2), AppendOptions{})
	if err != nil || !dup2.Duplicate || dup2.BaseOffset != 3 {
		t.Fatalf("retry after restart: %+v %v", dup2, err)
	}
	r3, err := l2.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 5, 1), AppendOptions{})
	if err != nil || r3.Duplicate || r3.BaseOffset != 5 {
		t.Fatalf("next batch after restart: %+v %v", r3, err)
	}
	if _, err := l2.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 1, 0, 1), AppendOptions{}); err != nil {
		t.Fatalf("new epoch: %v", err)
	}
	if _, err := l2.AppendBatch(ctx, "t", 0, idemBatch(t, 7, 0, 6, 1), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("fenced epoch: %v", err)
	}
	_, hw, _, _ := l2.Watermarks("t", 0)
	if hw != 7 {
		t.Fatalf("high watermark %d, want 7 (no duplicate stored)", hw)
	}
}
