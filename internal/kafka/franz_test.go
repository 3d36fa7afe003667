package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

// newFranz returns a franz-go client of the test server, closed at the end
// of the test.
func newFranz(t *testing.T, ts *testServer, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(ts.addr)}, opts...)...)
	if err != nil {
		t.Fatalf("new franz-go client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a topic with kadm, with a max.message.bytes that
// lets the workload's large value through.
func createTopic(t *testing.T, ts *testServer, topic string, parts int32) {
	t.Helper()
	adm := kadm.NewClient(newFranz(t, ts))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mmb := "2097152"
	resp, err := adm.CreateTopic(ctx, parts, 1, map[string]*string{"max.message.bytes": &mmb}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v / %v", topic, err, resp.Err)
	}
}

// consumeFranz reads n records of topic from the start.
func consumeFranz(t *testing.T, ts *testServer, topic string, n int, opts ...kgo.Opt) []wrec {
	t.Helper()
	cl := newFranz(t, ts, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(4 << 20)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []wrec
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), n, topic, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, fromKgo(r)) })
	}
	return out
}

func fromKgo(r *kgo.Record) wrec {
	w := wrec{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
	if w.Value == nil {
		w.Value = []byte{}
	}
	for _, h := range r.Headers {
		w.Headers = append(w.Headers, [2]string{h.Key, string(h.Value)})
	}
	return w
}

func toKgo(topic string, w wrec) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: w.Key, Value: w.Value}
	for _, h := range w.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
	}
	return r
}

func TestFranzProduceConsumeEveryCodec(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		want  batch.Compression
	}{
		{"none", kgo.NoCompression(), batch.None},
		{"gzip", kgo.GzipCompression(), batch.Gzip},
		{"snappy", kgo.SnappyCompression(), batch.Snappy},
		{"lz4", kgo.Lz4Compression(), batch.LZ4},
		{"zstd", kgo.ZstdCompression(), batch.Zstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "franz-" + c.name
			createTopic(t, ts, topic, 3)
			cl := newFranz(t, ts, kgo.ProducerBatchCompression(c.codec), kgo.ProducerBatchMaxBytes(2<<20),
				kgo.DefaultProduceTopic(topic))
			recs := workload(300, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var krecs []*kgo.Record
			for _, w := range recs {
				krecs = append(krecs, toKgo(topic, w))
			}
			if err := cl.ProduceSync(ctx, krecs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			checkConsumed(t, recs, consumeFranz(t, ts, topic, len(recs)))
			checkStoredCodec(t, ts, topic, 3, c.want)
		})
	}
}

// Records in sealed segments are read through their index files once the
// partitions drop those entries from memory (after the segment is indexed,
// and from the start after a restart): a franz-go consumer from the start
// and ListOffsets by timestamp see every record, in order, where it was.
func TestFranzReadsSealedSegmentsThroughTheirIndexFiles(t *testing.T) {
	// Segments of 8 KiB and a flush every 100 records: batches of about
	// 3 KB, a few per segment, so that all but a few are in sealed
	// segments whatever the client's batching.
	ts := startServer(t, "", Config{}, millrace.Options{SegmentBytes: 8 << 10})
	const parts, perPart = 3, 3000
	createTopic(t, ts, "cold", parts)
	cl := newFranz(t, ts, kgo.DefaultProduceTopic("cold"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	for i := range perPart {
		for p := range int32(parts) {
			r := &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("p%d-%05d", p, i)), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if i%100 == 99 {
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		st := ts.log.Stats()
		if st.IndexBatches == 0 || st.IndexBatchesInMemory*2 > st.IndexBatches {
			t.Fatalf("%s: %d of %d batches' entries in memory; the test needs most sealed away", when, st.IndexBatchesInMemory, st.IndexBatches)
		}
		got := consumeFranz(t, ts, "cold", parts*perPart)
		next := make(map[int32]int64)
		for _, r := range got {
			if want := fmt.Sprintf("p%d-%05d", r.Partition, next[r.Partition]); r.Offset != next[r.Partition] || string(r.Value) != want {
				t.Fatalf("%s: partition %d offset %d holds %q; want offset %d, %q", when, r.Partition, r.Offset, r.Value, next[r.Partition], want)
			}
			next[r.Partition]++
		}
		adm := kadm.NewClient(newFranz(t, ts))
		offs, err := adm.ListOffsetsAfterMilli(ctx, base.Add(1234*time.Millisecond).UnixMilli(), "cold")
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(parts) {
			if o, ok := offs.Lookup("cold", p); !ok || o.Err != nil || o.Offset != 1234 {
				t.Fatalf("%s: offset for time +1234 ms in partition %d: %+v; want 1234", when, p, o)
			}
		}
		if st := ts.log.Stats(); st.IndexCacheLoads == 0 {
			t.Fatalf("%s: no segment's entries were read back", when)
		}
	}
	waitFor(t, "sealed segments indexed", 30*time.Second, func() bool {
		st := ts.log.Stats()
		return st.IndexBatchesInMemory*2 < st.IndexBatches
	})
	check("running")
	ts.restart()
	check("after a restart")
}
