package kafka

import (
	"context"
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
