// Command fsyncmodes asks what a group commit's fdatasync costs depending
// on how the segment file was prepared (issue 6): fallocated (the commit
// log's default: unwritten extents, which each first write converts, a
// metadata change the fdatasync must journal), written through with zeros
// and synced beforehand (no metadata left to commit), or grown by each write
// (a size change to commit). For each, it writes -chunk bytes and
// fdatasyncs, -n times, and prints fsyncs per second, the process's CPU per
// write+fdatasync, and the fdatasync time's p50 and p99. Each mode runs
// twice, interleaved.
//
//	go run ./bench/fsyncmodes -dir /var/tmp
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to test")
	n := flag.Int("n", 8000, "write+fdatasync rounds per mode")
	chunk := flag.Int("chunk", 40<<10, "bytes written before each fdatasync")
	flag.Parse()

	size := int64(*n) * int64(*chunk)
	buf := make([]byte, *chunk)
	path := filepath.Join(*dir, "fsyncmodes.dat")
	for _, mode := range []string{"fallocate", "zerofill", "grow", "fallocate", "zerofill", "grow"} {
		os.Remove(path)
		f, err := os.Create(path)
		if err != nil {
			log.Fatal(err)
		}
		switch mode {
		case "fallocate":
			if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
				log.Fatal(err)
			}
		case "zerofill":
			z := make([]byte, 1<<20)
			for off := int64(0); off < size; off += int64(len(z)) {
				if _, err := f.WriteAt(z, off); err != nil {
					log.Fatal(err)
				}
			}
		}
		if err := f.Sync(); err != nil {
			log.Fatal(err)
		}
		c0 := cpuTime()
		lat := make([]time.Duration, 0, *n)
		t0 := time.Now()
		for i := range *n {
			if _, err := f.WriteAt(buf, int64(i)*int64(*chunk)); err != nil {
				log.Fatal(err)
			}
			t := time.Now()
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				log.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
		wall := time.Since(t0)
		c := cpuTime() - c0
		slices.Sort(lat)
		fmt.Printf("%-9s fsyncs/s %6.0f  cpu per write+fdatasync %5.1f µs  fdatasync p50 %v  p99 %v\n", mode,
			float64(*n)/wall.Seconds(), float64(c.Microseconds())/float64(*n), lat[*n/2], lat[*n*99/100])
		f.Close()
	}
	os.Remove(path)
}
