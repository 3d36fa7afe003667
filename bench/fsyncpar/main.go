// Command fsyncpar asks whether overlapping fdatasyncs would help a group
// commit on this disk (issue 6): a writer appends -chunk bytes every
// millisecond to a file for 4 s while syncers fdatasync whatever was
// written since the last sync, at most -parallel at once, and it prints the
// time from each write to the end of the first fdatasync that started
// after it. Compare -parallel 1 (the commit log's flusher) with 2 and 4.
//
//	go run ./bench/fsyncpar -dir /var/tmp -parallel 1
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to test")
	parallel := flag.Int("parallel", 1, "fdatasyncs in flight at most")
	chunk := flag.Int("chunk", 100<<10, "bytes written per millisecond")
	flag.Parse()

	path := filepath.Join(*dir, "fsyncpar.dat")
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, *chunk)

	var mu sync.Mutex
	var pending []time.Time // writes not yet covered by a started sync
	var lat []time.Duration
	var off int64
	stop := time.Now().Add(4 * time.Second)
	start := time.Now()
	go func() {
		for time.Now().Before(stop) {
			if _, err := f.WriteAt(buf, off); err != nil {
				log.Fatal(err)
			}
			off += int64(len(buf))
			mu.Lock()
			pending = append(pending, time.Now())
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for time.Now().Before(stop) {
		mu.Lock()
		batch := pending
		pending = nil
		mu.Unlock()
		if len(batch) == 0 {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				log.Fatal(err)
			}
			now := time.Now()
			mu.Lock()
			for _, t := range batch {
				lat = append(lat, now.Sub(t))
			}
			mu.Unlock()
			<-sem
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	fmt.Printf("parallel=%d writes=%d MB/s=%.0f write-to-durable p50=%v p99=%v\n", *parallel, len(lat),
		float64(off)/time.Since(start).Seconds()/1e6, lat[len(lat)/2], lat[len(lat)*99/100])
}
