package vfs

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

func TestErrorFSInjectsAndClearsFaults(t *testing.T) {
	dir := t.TempDir()
	efs := NewErrorFS(OS)
	f, err := efs.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	efs.SetInjector(func(op Op, path string) error {
		switch op {
		case OpSync:
			return syscall.EIO
		case OpWrite:
			return &ShortWrite{N: 3, Err: syscall.ENOSPC}
		case OpRename:
			return syscall.EXDEV
		}
		return nil
	})
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync: %v", err)
	}
	n, err := f.Write([]byte("hello"))
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %d %v", n, err)
	}
	if err := efs.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename: %v", err)
	}
	efs.SetInjector(nil)
	if err := f.Sync(); err != nil {
		t.Fatalf("sync after clearing: %v", err)
	}
	if n, err := f.Write([]byte("lo")); n != 2 || err != nil {
		t.Fatalf("write after clearing: %d %v", n, err)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "hello" {
		t.Fatalf("read back %q %v: the short write kept its first 3 bytes", buf, err)
	}
}

func TestPreallocateReadsAsZeros(t *testing.T) {
	f, err := OS.Create(filepath.Join(t.TempDir(), "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Preallocate(1 << 16); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Size(); n != 1<<16 {
		t.Fatalf("size %d after preallocating 64 KiB", n)
	}
	buf := make([]byte, 16)
	if _, err := f.ReadAt(buf, 1000); err != nil || buf[0] != 0 || buf[15] != 0 {
		t.Fatalf("preallocated range: %v %v", buf, err)
	}
	if err := f.DropCache(); err != nil {
		t.Fatal(err)
	}
	if err := f.DropCacheRange(4096, 8192); err != nil {
		t.Fatal(err)
	}
}
