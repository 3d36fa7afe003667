package millrace

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/vfs"
)

func TestStorageFaultsFailAppendsKeepReadsAndResumeWhenCleared(t *testing.T) {
	for _, fault := range []struct {
		name string
		op   vfs.Op
		err  error
	}{
		{"EIO on fsync", vfs.OpSync, syscall.EIO},
		{"ENOSPC on fsync", vfs.OpSync, syscall.ENOSPC},
		{"EIO on write", vfs.OpWrite, syscall.EIO},
		{"ENOSPC on write", vfs.OpWrite, syscall.ENOSPC},
		{"short write", vfs.OpWrite, &vfs.ShortWrite{N: 10, Err: syscall.ENOSPC}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			dir := t.TempDir()
			efs := vfs.NewErrorFS(vfs.OS)
			l := openT(t, Options{Dir: dir, FS: efs})
			ctx := context.Background()
			l.CreateTopic("t", 2, nil)
			// acked maps partition and offset to the acknowledged value.
			// An append that failed may or may not have reached the disk
			// (a write can land before its fsync fails), so only
			// acknowledged records are checked, plus dense offsets.
			acked := map[int32]map[int64]string{0: {}, 1: {}}
			appendOne := func(part int32, v string) error {
				res, err := l.Append(ctx, "t", part, []Record{{Value: []byte(v)}}, AppendOptions{})
				if err == nil {
					acked[part][res.BaseOffset] = v
				}
				return err
			}
			for i := range 10 {
				if err := appendOne(int32(i%2), fmt.Sprint("before-", i)); err != nil {
					t.Fatal(err)
				}
			}
			efs.SetInjector(func(op vfs.Op, path string) error {
				if op == fault.op {
					return fault.err
				}
				return nil
			})
			err := appendOne(0, "during")
			if !errors.Is(err, ErrStorage) {
				t.Fatalf("append during the fault: %v, want ErrStorage", err)
			}
			start := time.Now()
			if err := appendOne(1, "during-2"); err == nil {
				t.Fatal("append acknowledged while the disk fails")
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("append during the fault did not fail fast")
			}
			if got, _, err := l.Read("t", 0, 0, ReadOptions{}); err != nil || len(got) < 5 {
				t.Fatalf("reads during the fault: %d records, %v", len(got), err)
			}
			efs.SetInjector(nil)
			deadline := time.Now().Add(20 * time.Second)
			for {
				err := appendOne(0, "after")
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("appends did not resume after the fault cleared: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			l.Close()
			l2 := openT(t, Options{Dir: dir})
			for part, want := range acked {
				got, _, err := l2.Read("t", part, 0, ReadOptions{MaxRecords: 1000})
				if err != nil {
					t.Fatalf("partition %d after reopen: %v", part, err)
				}
				for i, r := range got {
					if r.Offset != int64(i) {
						t.Fatalf("partition %d: offsets not dense at %d", part, i)
					}
				}
				for off, v := range want {
					if off >= int64(len(got)) || string(got[off].Value) != v {
						t.Fatalf("partition %d: acknowledged record %d (%q) lost after the fault", part, off, v)
					}
				}
			}
		})
	}
}

func TestDurabilityReportsAFailedFsyncAndNeverAcknowledgesAfterReopen(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	l := openT(t, Options{Dir: t.TempDir(), FS: efs})
	l.CreateTopic("t", 1, nil)
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	})
	b := idemBatch(t, 5, 0, 0, 2)
	res, d, err := l.AppendBatchAsync("t", 0, b, AppendOptions{})
	if err != nil {
		t.Fatalf("accepted in memory: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Wait(ctx); !errors.Is(err, ErrStorage) {
		t.Fatalf("Wait after a failed fsync = %v, want ErrStorage", err)
	}
	// The retry of the same idempotent batch must not be acknowledged on
	// the strength of a watermark that belongs to another generation.
	efs.SetInjector(nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res2, d2, err := l.AppendBatchAsync("t", 0, idemBatch(t, 5, 0, 0, 2), AppendOptions{})
		if err == nil {
			err = d2.Wait(ctx)
		}
		if err == nil {
			got, _, err := l.Read("t", 0, res2.BaseOffset, ReadOptions{})
			if err != nil || len(got) != 2 {
				t.Fatalf("retried batch not readable at %d: %v", res2.BaseOffset, err)
			}
			if res2.BaseOffset != res.BaseOffset && !res2.Duplicate {
				t.Logf("the failed batch was not on disk; the retry was stored at %d", res2.BaseOffset)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("appends did not resume: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A shard reopened after a storage fault rebuilds its index from the disk:
// every segment is scanned (its entries in memory), then, as their index
// files are rebuilt, the sealed segments' entries leave memory again, and
// reads go through the new log's index files, not the cached entries of
// the failed one. Every acknowledged record stays readable throughout.
func TestStorageFaultWithColdRunsReopensThemCold(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	l := openT(t, Options{Dir: t.TempDir(), FS: efs, SegmentBytes: 4096})
	defer l.Close()
	ctx := context.Background()
	l.CreateTopic("t", 1, nil)
	var want []string
	for i := range 200 {
		v := fmt.Sprintf("before-%03d-padding-padding", i)
		if _, err := l.Append(ctx, "t", 0, []Record{{Value: []byte(v)}}, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
	}
	readAll := func(when string) {
		t.Helper()
		var got []string
		for off := int64(0); off < int64(len(want)); {
			recs, _, err := l.Read("t", 0, off, ReadOptions{MaxBytes: 512})
			if err != nil || len(recs) == 0 {
				t.Fatalf("%s: read at %d: %d records, %v", when, off, len(recs), err)
			}
			for _, r := range recs {
				got = append(got, string(r.Value))
			}
			off = recs[len(recs)-1].Offset + 1
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: offset %d holds %q, want %q", when, i, got[i], want[i])
			}
		}
	}
	coldNow := func(when string) {
		t.Helper()
		l.shards[0].cl().WaitIndexed()
		p := partitionOf(t, l, "t")
		p.mu.RLock()
		hot, n := p.entries.hotLen(), p.entries.len()
		p.mu.RUnlock()
		if hot*2 > n {
			t.Fatalf("%s: %d of %d entries in memory; want the sealed segments' out", when, hot, n)
		}
	}
	coldNow("before the fault")
	readAll("before the fault")
	old := l.shards[0].cl()
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	})
	if _, err := l.Append(ctx, "t", 0, []Record{{Value: []byte("during")}}, AppendOptions{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("append during the fault: %v, want ErrStorage", err)
	}
	efs.SetInjector(nil)
	deadline := time.Now().Add(20 * time.Second)
	for l.shards[0].cl() == old || l.shards[0].cl().Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the shard was not reopened after the fault cleared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	loads := l.cold.loads.Load()
	coldNow("after the reopen")
	readAll("after the reopen")
	if l.cold.loads.Load() == loads {
		t.Fatal("after the reopen no segment was read back: reads used the failed log's entries")
	}
}

// Durability.Notify calls its function once with what Wait would return:
// nil once the append is durable (for a duplicate of an append still
// waiting for its fsync, once the original is), ErrStorage when the fsync
// failed, and never before the fsync.
func TestNotifyReportsWhatWaitWould(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	l := openT(t, Options{Dir: t.TempDir(), FS: efs})
	defer l.Close()
	l.CreateTopic("t", 1, nil)
	ctx := context.Background()
	notified := func(d Durability) chan error {
		ch := make(chan error, 2)
		d.Notify(ctx, func(err error) { ch <- err })
		return ch
	}
	outcome := func(what string, ch chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			select {
			case again := <-ch:
				t.Fatalf("%s: notified twice (%v, then %v)", what, err, again)
			case <-time.After(50 * time.Millisecond):
			}
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not notified within 10 s", what)
			return nil
		}
	}

	stall := make(chan struct{})
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			<-stall
		}
		return nil
	})
	_, d1, err := l.AppendBatchAsync("t", 0, idemBatch(t, 3, 0, 0, 2), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res2, d2, err := l.AppendBatchAsync("t", 0, idemBatch(t, 3, 0, 0, 2), AppendOptions{})
	if err != nil || !res2.Duplicate {
		t.Fatalf("the retry: %+v, %v; want a duplicate", res2, err)
	}
	original, duplicate := notified(d1), notified(d2)
	select {
	case err := <-original:
		t.Fatalf("notified (%v) before the fsync", err)
	case err := <-duplicate:
		t.Fatalf("duplicate notified (%v) before the original's fsync", err)
	case <-time.After(100 * time.Millisecond):
	}
	efs.SetInjector(nil)
	close(stall)
	if err := outcome("original", original); err != nil {
		t.Fatalf("original: %v", err)
	}
	if err := outcome("duplicate", duplicate); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	if err := outcome("after the fact", notified(d1)); err != nil {
		t.Fatalf("registered once durable: %v", err)
	}

	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	})
	_, d3, err := l.AppendBatchAsync("t", 0, idemBatch(t, 3, 0, 2, 2), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := outcome("failed fsync", notified(d3)); !errors.Is(err, ErrStorage) {
		t.Fatalf("failed fsync: %v, want ErrStorage", err)
	}
	efs.SetInjector(nil)
	// Let the shard reopen before Close.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := l.Append(ctx, "t", 0, []Record{{Value: []byte("after")}}, AppendOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("appends did not resume")
		}
	}
}
