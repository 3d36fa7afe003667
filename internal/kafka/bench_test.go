package kafka

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/millrace/millrace"
)

// The throughput benchmarks: a franz-go client on the same machine, 128-byte
// records, 8 partitions. Produce is acks=all over fsync=always (every
// acknowledged record is on disk); consume reads what was produced.
//
//	go test ./internal/kafka -run '^$' -bench 'Kafka(Produce|Consume)' -benchtime 2000000x

const (
	benchPartitions = 8
	benchRecordSize = 128
)

func benchServer(b *testing.B) *testServer {
	b.Helper()
	dir := b.TempDir()
	opts := millrace.Options{Dir: dir, Logger: testLogger(b)}
	l, err := millrace.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(l, Config{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	ts := &testServer{dir: dir, log: l, srv: srv, done: make(chan error, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	go func() { ts.done <- srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-ts.done
		l.Close()
	})
	if _, err := l.CreateTopic("bench", benchPartitions, nil); err != nil {
		b.Fatal(err)
	}
	return ts
}

// produceBench produces n records of benchRecordSize bytes with acks=all
// and returns when every one is acknowledged.
func produceBench(b *testing.B, addr string, n int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("bench"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(1<<20),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, benchRecordSize)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	wg.Add(n)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Store(&err)
		}
		wg.Done()
	}
	ctx := context.Background()
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, done)
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("produce: %v", *err)
	}
}

func BenchmarkKafkaProduce(b *testing.B) {
	ts := benchServer(b)
	b.SetBytes(benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	produceBench(b, ts.addr, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func BenchmarkKafkaConsume(b *testing.B) {
	ts := benchServer(b)
	produceBench(b, ts.addr, b.N)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.SetBytes(benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	ctx := context.Background()
	got := 0
	for got < b.N {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("fetch %s/%d: %v", t, p, err) })
		got += fs.NumRecords()
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "records/s")
}
