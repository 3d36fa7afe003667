package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startBroker serves a null broker (with log file f, if not nil) on a
// loopback port until the test ends, and returns its address.
func startBroker(t *testing.T, f *os.File) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := newBroker(ln, f)
	go b.accept(ln)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// produce creates topic with 3 partitions and produces n records of 100
// bytes to it with franz-go at the acks given, one at a time, calling
// after (if not nil) once each is acknowledged; it returns each record's
// offset by partition.
func produce(t *testing.T, addr, topic string, acks kgo.Acks, n int, after func(i int)) map[int32][]int64 {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RequiredAcks(acks), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression())}
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	got := map[int32][]int64{}
	for i := range n {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: make([]byte, 100)}).First()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		got[r.Partition] = append(got[r.Partition], r.Offset)
		if after != nil {
			after(i)
		}
	}
	return got
}

// A Kafka client produces to the null broker at either ack level and gets
// dense offsets per partition, from 0.
func TestTheNullBrokerAcknowledgesWithDenseOffsets(t *testing.T) {
	addr := startBroker(t, nil)
	for i, acks := range []kgo.Acks{kgo.LeaderAck(), kgo.AllISRAcks()} {
		got := produce(t, addr, fmt.Sprintf("t%d", i), acks, 30, nil)
		if len(got) != 3 {
			t.Fatalf("acks %v: records went to %d partitions; want 3", acks, len(got))
		}
		for p, offs := range got {
			for i, o := range offs {
				if o != int64(i) {
					t.Fatalf("acks %v: partition %d's record %d got offset %d", acks, p, i, o)
				}
			}
		}
	}
}

// With -file, an acks=all produce is answered only once its batch is in
// the file (and synced): after each acknowledgement the file holds at
// least a batch per record so far.
func TestTheDurableNullBrokerWritesBeforeItAcknowledges(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "null.log"))
	if err != nil {
		t.Fatal(err)
	}
	addr := startBroker(t, f)
	const minBatch = 61 + 100 // a v2 batch header and a 100-byte value
	produce(t, addr, "durable", kgo.AllISRAcks(), 40, func(i int) {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < int64(i+1)*minBatch {
			t.Fatalf("after record %d was acknowledged the file holds %d bytes; want at least %d", i, fi.Size(), (i+1)*minBatch)
		}
	})
}
