package vfs

import (
	"os"
	"sync/atomic"
)

// Op names a file operation that ErrorFS can fail.
type Op int

// The operations ErrorFS can fail.
const (
	OpCreate Op = iota
	OpOpen
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpPreallocate
	OpRename
	OpRemove
	OpSyncDir
	OpDropCache
)

var opNames = [...]string{"create", "open", "read", "write", "sync", "truncate", "preallocate", "rename", "remove", "syncdir", "dropcache"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// Injector decides whether an operation on path fails. It returns nil to let
// the operation through. For OpWrite it may return a *ShortWrite to write
// only part of the buffer before failing.
type Injector func(op Op, path string) error

// ShortWrite makes a write store only its first N bytes, then fail with Err.
type ShortWrite struct {
	N   int
	Err error
}

func (s *ShortWrite) Error() string { return "short write: " + s.Err.Error() }

// Unwrap returns the error the short write fails with.
func (s *ShortWrite) Unwrap() error { return s.Err }

// ErrorFS wraps an FS and fails operations as its Injector decides. The
// injector can be changed at any time, from any goroutine, so a test can
// turn a fault on, watch the engine react, and turn it off again.
type ErrorFS struct {
	inner  FS
	inject atomic.Pointer[Injector]
}

// NewErrorFS wraps inner; with no injector set it passes everything through.
func NewErrorFS(inner FS) *ErrorFS { return &ErrorFS{inner: inner} }

// SetInjector replaces the injector; nil passes everything through.
func (e *ErrorFS) SetInjector(fn Injector) {
	if fn == nil {
		e.inject.Store(nil)
		return
	}
	e.inject.Store(&fn)
}

func (e *ErrorFS) check(op Op, path string) error {
	if p := e.inject.Load(); p != nil {
		if err := (*p)(op, path); err != nil {
			if _, ok := err.(*ShortWrite); ok {
				return err
			}
			return &os.PathError{Op: op.String(), Path: path, Err: err}
		}
	}
	return nil
}

func (e *ErrorFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e}, nil
}

// Create implements FS.
func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	return e.wrap(e.inner.Create(name))
}

// Open implements FS.
func (e *ErrorFS) Open(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	return e.wrap(e.inner.Open(name))
}

// OpenRW implements FS.
func (e *ErrorFS) OpenRW(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	return e.wrap(e.inner.OpenRW(name))
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

// Rename implements FS.
func (e *ErrorFS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, oldname); err != nil {
		return err
	}
	return e.inner.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string) error { return e.inner.MkdirAll(dir) }

// List implements FS.
func (e *ErrorFS) List(dir string) ([]string, error) { return e.inner.List(dir) }

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (os.FileInfo, error) { return e.inner.Stat(name) }

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

type errorFile struct {
	File
	fs *ErrorFS
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errorFile) write(p []byte, do func([]byte) (int, error)) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		if sw, ok := err.(*ShortWrite); ok && sw.N < len(p) {
			n, werr := do(p[:sw.N])
			if werr != nil {
				return n, werr
			}
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: sw.Err}
		}
		return 0, err
	}
	return do(p)
}

func (f *errorFile) Write(p []byte) (int, error) { return f.write(p, f.File.Write) }

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	return f.write(p, func(b []byte) (int, error) { return f.File.WriteAt(b, off) })
}

func (f *errorFile) Sync() error {
	if err := f.fs.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// DropCache is DropCacheRange of the whole file, failed as one.
func (f *errorFile) DropCache() error { return f.DropCacheRange(0, 0) }

func (f *errorFile) DropCacheRange(off, n int64) error {
	if err := f.fs.check(OpDropCache, f.Name()); err != nil {
		return err
	}
	return f.File.DropCacheRange(off, n)
}

func (f *errorFile) Preallocate(n int64) error {
	if err := f.fs.check(OpPreallocate, f.Name()); err != nil {
		return err
	}
	return f.File.Preallocate(n)
}
