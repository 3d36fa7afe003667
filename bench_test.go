package millrace

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/millrace/millrace/internal/batch"
)

// buildBatch encodes n records of size-byte values, as a producer would.
func buildBatch(tb testing.TB, n, size int) []byte {
	var bb batch.Builder
	bb.Reset(batch.BuildOptions{})
	v := make([]byte, size)
	for i := range n {
		v[0] = byte(i)
		bb.Add(batch.Record{Timestamp: 1_700_000_000_000 + int64(i), Value: v})
	}
	out, err := bb.AppendTo(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// procIO reads this process's write_bytes from /proc/self/io.
func procIO() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// benchAppend appends 1000-record batches of 128-byte values with durable
// acks from `writers` goroutines spread over `partitions` partitions of one
// topic, and reports records/s, disk bytes per appended byte and open fds.
func benchAppend(b *testing.B, partitions, writers int) {
	l, err := Open(Options{Dir: b.TempDir(), Shards: 1, MaxPendingBytes: 256 << 20, SegmentBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic("bench", int32(partitions), nil); err != nil {
		b.Fatal(err)
	}
	const perBatch = 1000
	batches := make([][]byte, writers)
	for i := range batches {
		batches[i] = buildBatch(b, perBatch, 128)
	}
	ctx := context.Background()
	var next atomic.Int64
	ioBefore := procIO()
	b.SetBytes(int64(len(batches[0])))
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				part := int32(i % int64(partitions))
				if _, err := l.AppendBatch(ctx, "bench", part, batches[w], AppendOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	appended := float64(b.N) * float64(len(batches[0]))
	b.ReportMetric(float64(b.N)*perBatch/b.Elapsed().Seconds(), "records/s")
	if ioBefore >= 0 {
		b.ReportMetric(float64(procIO()-ioBefore)/appended, "disk-bytes/byte")
	}
	b.ReportMetric(float64(openFDs()), "fds")
}

func BenchmarkAppend128B(b *testing.B) {
	for _, tc := range []struct{ partitions, writers int }{{1, 16}, {64, 16}, {10000, 16}} {
		b.Run(fmt.Sprintf("partitions=%d", tc.partitions), func(b *testing.B) { benchAppend(b, tc.partitions, tc.writers) })
	}
}

// BenchmarkCatchUpRead reads one partition sequentially from offset 0, as a
// consumer catching up does, and reports records/s.
func BenchmarkCatchUpRead(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir(), TailCacheBytes: -1, MaxPendingBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	l.CreateTopic("bench", 1, nil)
	const perBatch, batches = 1000, 2000
	bt := buildBatch(b, perBatch, 128)
	ctx := context.Background()
	for range batches {
		if _, err := l.AppendBatch(ctx, "bench", 0, bt, AppendOptions{Ack: AckMemory}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.Append(ctx, "bench", 0, []Record{{Value: []byte("sync")}}, AppendOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bt)) * batches)
	b.ResetTimer()
	var buf []byte
	records := 0
	for range b.N {
		off := int64(0)
		for off < perBatch*batches {
			var res ReadResult
			buf, res, err = l.ReadBatches("bench", 0, off, 1<<20, false, buf[:0])
			if err != nil {
				b.Fatal(err)
			}
			for data := buf; len(data) > 0; {
				var one []byte
				one, data, err = batch.Next(data)
				if err != nil {
					b.Fatal(err)
				}
				h, _ := batch.ReadHeader(one)
				records += int(h.NumRecords)
			}
			off = res.NextOffset
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
