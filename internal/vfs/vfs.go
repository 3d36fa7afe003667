// Package vfs is the narrow file-system interface that every millrace file
// access goes through.
//
// The storage engine never calls package os directly: it takes an FS. The
// default, OS, is the real file system. Tests wrap it (see ErrorFS) to inject
// the faults a real disk produces, ENOSPC and EIO on write or fsync, short
// writes, failed renames, without root and without mocking the engine.
//
// The interface is deliberately small: only what a commit log, a manifest
// and an index need. Sync means fdatasync: the data and the metadata needed
// to read it back (the file size), not timestamps.
package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// File is an open file. Writes are sequential (Write) or positional (WriteAt);
// reads are positional (ReadAt) so that many readers can share one handle.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Sync makes every completed write durable (fdatasync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Preallocate reserves n bytes of disk from offset 0 without writing
	// them, so appends within that range do not grow the file. The file's
	// size becomes at least n; the reserved range reads as zeros.
	Preallocate(n int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// DropCache asks the operating system to forget the file's cached
	// pages, so that the next reads come from the disk. After a failed
	// fsync the page cache may hold data the disk does not; recovery
	// drops it before reading.
	DropCache() error
	// DropCacheRange is DropCache for the n bytes from off only: a large
	// file dropped in pieces spreads the kernel's work (tens of
	// milliseconds of a core for 256 MiB on the project's machine).
	DropCacheRange(off, n int64) error
	// Name returns the path the file was opened with.
	Name() string
}

// FS opens and manages files. Paths are ordinary OS paths.
type FS interface {
	// Create creates a new file for reading and writing; it fails if the
	// file exists.
	Create(name string) (File, error)
	// Open opens an existing file for reading only.
	Open(name string) (File, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(name string) (File, error)
	// Remove deletes a file.
	Remove(name string) error
	// Rename renames a file, replacing newname if it exists.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes a file.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries (creates, renames, removes)
	// durable.
	SyncDir(dir string) error
}

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenRW(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }
func (osFS) Stat(name string) (os.FileInfo, error) {
	return os.Stat(name)
}

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f osFile) Sync() error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (f osFile) Preallocate(n int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		// Not every file system can reserve space (tmpfs can, some overlays
		// cannot); growing the file is the portable fallback.
		return f.File.Truncate(n)
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

// DropCache is DropCacheRange of the whole file: a length of 0 reaches
// the file's end.
func (f osFile) DropCache() error { return f.DropCacheRange(0, 0) }

func (f osFile) DropCacheRange(off, n int64) error {
	if err := unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED); err != nil {
		return &os.PathError{Op: "fadvise", Path: f.Name(), Err: err}
	}
	return nil
}

func (f osFile) Size() (int64, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
