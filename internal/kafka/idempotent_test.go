package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

// An idempotent franz-go producer, a restart, a new producer: every record
// once, and the new producer got a new producer id.
func TestFranzIdempotentProducerAcrossRestart(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	const topic = "idem"
	createTopic(t, ts, topic, 2)
	produce := func(tag string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.DefaultProduceTopic(topic)) // idempotent by default
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var recs []*kgo.Record
		for i := range 200 {
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "%s-%d", tag, i)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", tag, err)
		}
	}
	produce("before")
	ts.restart()
	produce("after")
	got := consumeFranz(t, ts, topic, 400)
	seen := make(map[string]bool)
	for _, r := range got {
		if seen[string(r.Value)] {
			t.Fatalf("record %s consumed twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	pids := make(map[int64]bool)
	for p := range int32(2) {
		data, _, err := ts.log.ReadBatches(topic, p, 0, 1<<30, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) > 0 {
			b, rest, _ := batch.Next(data)
			data = rest
			h, _ := batch.ReadHeader(b)
			if h.ProducerID < 0 {
				t.Fatalf("stored batch without a producer id: the client was not idempotent")
			}
			pids[h.ProducerID] = true
		}
	}
	if len(pids) != 2 {
		t.Fatalf("batches carry producer ids %v, want two distinct ids (one per producer)", pids)
	}
}

// rawProducer sends hand-built idempotent batches with a franz-go client's
// raw request path.
type rawProducer struct {
	t     *testing.T
	cl    *kgo.Client
	topic string
	pid   int64
}

func (rp *rawProducer) initID() {
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(context.Background(), rp.cl)
	if err != nil || resp.ErrorCode != 0 {
		rp.t.Fatalf("init producer id: %v, code %d", err, resp.ErrorCode)
	}
	rp.pid = resp.ProducerID
}

// send produces one batch of n records with the given epoch and base
// sequence and returns the partition's error code and base offset.
func (rp *rawProducer) send(epoch int16, seq int32, n int) (int16, int64) {
	rp.t.Helper()
	b := rp.batch(epoch, seq, n, 0)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = rp.topic
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: b}}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), rp.cl)
	if err != nil {
		rp.t.Fatalf("produce: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

// batch builds a batch of n records (of size bytes each, or short ones),
// idempotent unless the producer id is negative.
func (rp *rawProducer) batch(epoch int16, seq int32, n, size int) []byte {
	var bb batch.Builder
	bb.Reset(batch.BuildOptions{Idempotent: rp.pid >= 0, ProducerID: rp.pid, ProducerEpoch: epoch, BaseSequence: seq})
	for i := range n {
		v := fmt.Appendf(nil, "seq-%d", int(seq)+i)
		if size > 0 {
			v = make([]byte, size)
		}
		bb.Add(batch.Record{Timestamp: time.Now().UnixMilli(), Value: v})
	}
	b, err := bb.Build()
	if err != nil {
		rp.t.Fatal(err)
	}
	return b
}

// The same batch sent again (a client retry) is answered with its first
// offset and stored once, also after a restart; gaps and fenced epochs are
// refused with Kafka's codes.
func TestIdempotentResendIsNotDuplicated(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	const topic = "resend"
	createTopic(t, ts, topic, 1)
	rp := &rawProducer{t: t, cl: newFranz(t, ts), topic: topic}
	rp.initID()
	expect := func(what string, epoch int16, seq int32, n int, wantCode int16, wantBase int64) {
		t.Helper()
		code, base := rp.send(epoch, seq, n)
		if code != wantCode || (wantCode == 0 && base != wantBase) {
			t.Fatalf("%s: got code %v base %d, want code %v base %d", what, kerr.ErrorForCode(code), base, kerr.ErrorForCode(wantCode), wantBase)
		}
	}
	expect("first batch", 0, 0, 5, 0, 0)
	expect("second batch", 0, 5, 5, 0, 5)
	expect("first batch again", 0, 0, 5, 0, 0)
	expect("second batch again", 0, 5, 5, 0, 5)
	expect("a gap", 0, 20, 5, kerr.OutOfOrderSequenceNumber.Code, 0)
	ts.restart()
	rp.cl = newFranz(t, ts)
	expect("second batch again after a restart", 0, 5, 5, 0, 5)
	expect("third batch after a restart", 0, 10, 5, 0, 10)
	expect("a new epoch", 1, 0, 5, 0, 15)
	expect("the old epoch, fenced", 0, 15, 5, kerr.InvalidProducerEpoch.Code, 0)
	_, high, _, err := ts.log.Watermarks(topic, 0)
	if err != nil || high != 20 {
		t.Fatalf("high watermark %d (%v), want 20: every batch stored once", high, err)
	}
}
