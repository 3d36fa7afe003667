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
