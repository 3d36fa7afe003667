package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// codecs are the producer's batch compression choices by name.
var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// randomValue returns n random bytes: a record value no codec can shrink,
// so that the bytes measured are the bytes the server stores. (franz-go
// compresses with snappy unless told otherwise; zeroed values would
// shrink some hundredfold.)
func randomValue(n int) []byte {
	v := make([]byte, n)
	rand.Read(v)
	return v
}

// kafkaRunner drives a server over the Kafka protocol with franz-go.
type kafkaRunner struct {
	o     Options
	admin *kgo.Client
	// target is, for consume, the records the topic held at setup: the
	// offsets are listed before the clock starts.
	target int64
	// cons is, for consume, the consumer client, connected and given the
	// topic's metadata at setup: the clock times reading, not start-up.
	cons *kgo.Client
}

// createTopic connects the admin client and creates the topic unless it
// exists.
func (k *kafkaRunner) createTopic(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.o.Brokers...))
	if err != nil {
		return fmt.Errorf("bench: kafka client for %v: %w", k.o.Brokers, err)
	}
	k.admin = cl
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, k.o.Partitions, 1, nil, k.o.Topic)
	if err != nil {
		return fmt.Errorf("bench: create topic %q on %v: %w", k.o.Topic, k.o.Brokers, err)
	}
	if r, ok := resp[k.o.Topic]; ok && r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("bench: create topic %q: %w", k.o.Topic, r.Err)
	}
	return nil
}

func (k *kafkaRunner) setup(ctx context.Context) error {
	if err := k.createTopic(ctx); err != nil {
		return err
	}
	cl := k.admin
	if k.o.Mode == "consume" {
		adm := kadm.NewClient(cl)
		ends, err := adm.ListEndOffsets(ctx, k.o.Topic)
		if err != nil {
			return fmt.Errorf("bench: list end offsets of %q: %w", k.o.Topic, err)
		}
		starts, err := adm.ListStartOffsets(ctx, k.o.Topic)
		if err != nil {
			return fmt.Errorf("bench: list start offsets of %q: %w", k.o.Topic, err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := starts.Lookup(o.Topic, o.Partition)
			k.target += o.Offset - s.Offset
		})
		k.cons, err = kgo.NewClient(kgo.SeedBrokers(k.o.Brokers...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
		if err != nil {
			return fmt.Errorf("bench: kafka consumer for %v: %w", k.o.Brokers, err)
		}
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(k.o.Topic)
		req.Topics = append(req.Topics, rt)
		meta, err := req.RequestWith(ctx, k.cons)
		if err != nil {
			return fmt.Errorf("bench: metadata of %q: %w", k.o.Topic, err)
		}
		// Connect to the brokers fetches will go to, too.
		for _, b := range meta.Brokers {
			if _, err := k.cons.Broker(int(b.NodeID)).Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
				return fmt.Errorf("bench: connect to broker %d (%s:%d): %w", b.NodeID, b.Host, b.Port, err)
			}
		}
	}
	return nil
}

func (k *kafkaRunner) close() {
	if k.admin != nil {
		k.admin.Close()
	}
	if k.cons != nil {
		k.cons.Close()
	}
}

// kafkaAcks is the Kafka acks level an Options.Acks names: 1 for "leader"
// (or "1"), 0 for "none" (or "0"), and -1, all in-sync replicas, for
// anything else ("all", the default).
func kafkaAcks(s string) int16 {
	switch s {
	case "leader", "1":
		return 1
	case "none", "0":
		return 0
	}
	return -1
}

func (k *kafkaRunner) producerOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.o.Brokers...),
		kgo.DefaultProduceTopic(k.o.Topic),
		kgo.ProducerBatchMaxBytes(int32(k.o.BatchBytes)),
		kgo.MaxBufferedRecords(1 << 16),
		kgo.ProducerBatchCompression(codecs[k.o.Compression]),
	}
	// Set explicitly: franz-go's own default linger is not zero.
	opts = append(opts, kgo.ProducerLinger(k.o.Linger))
	acks := kafkaAcks(k.o.Acks)
	if k.o.Inflight > 0 && acks != -1 {
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(k.o.Inflight))
	}
	switch acks {
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case 0:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	return opts
}

// produce runs Producers clients that share the record count (or run until
// ctx ends). Each record carries its send time (its intended send time
// with a rate) in its first 8 bytes; latency is measured from it when the
// produce promise completes.
func (k *kafkaRunner) produce(ctx context.Context, m *meter, rate int) error {
	return k.produceWith(ctx, m, rate, newClock(), true)
}

// clock stamps send times into record values as monotonic nanoseconds
// since the run began. A record's Timestamp cannot carry them: franz-go
// truncates it to the millisecond (Kafka's unit), which drops Go's
// monotonic reading and would add 0 to 1 ms to every latency measured.
type clock struct{ base time.Time }

func newClock() clock { return clock{base: time.Now()} }

// stamp writes t into v[:8]; v must hold 8 bytes.
func (c clock) stamp(v []byte, t time.Time) {
	binary.LittleEndian.PutUint64(v, uint64(t.Sub(c.base)))
}

// since returns how long ago the time stamped in v was.
func (c clock) since(v []byte) time.Duration {
	return time.Since(c.base) - time.Duration(binary.LittleEndian.Uint64(v))
}

// produceWith produces; measure says whether the promise records each
// record's latency into m (e2e measures at the consumer instead).
func (k *kafkaRunner) produceWith(ctx context.Context, m *meter, rate int, clk clock, measure bool) error {
	sched := newSchedule(rate)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, k.o.Producers)
	stamped := k.o.RecordSize >= 8
	pool := sync.Pool{New: func() any { return &kgo.Record{Value: randomValue(k.o.RecordSize)} }}
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			m.errors.Add(1)
		} else {
			m.add(1, int64(len(r.Value)))
			switch {
			case measure && stamped:
				m.hist.Record(clk.since(r.Value))
			case measure:
				// Too small to carry a stamp: the millisecond Timestamp.
				m.hist.Record(time.Since(r.Timestamp))
			}
		}
		v := r.Value
		*r = kgo.Record{Value: v}
		pool.Put(r)
	}
	for w := range k.o.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(k.producerOpts()...)
			if err != nil {
				errs[w] = err
				return
			}
			defer cl.Close()
			pace := pacer{s: sched}
			// Records already buffered at the deadline are still delivered
			// (Flush below), not failed by the run's context.
			pctx := context.WithoutCancel(ctx)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if k.o.Count > 0 && i >= k.o.Count {
					break
				}
				var at time.Time
				if sched == nil {
					at = time.Now()
				} else {
					var ok bool
					if at, ok = pace.wait(ctx, i); !ok {
						break // the run ended before this record's time
					}
				}
				r := pool.Get().(*kgo.Record)
				r.Timestamp = at
				if stamped {
					clk.stamp(r.Value, at)
				}
				cl.Produce(pctx, r, promise)
			}
			if err := cl.Flush(context.WithoutCancel(ctx)); err != nil {
				errs[w] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// consume reads the topic from its start until count records (at most what
// the topic held at setup) have arrived, or ctx ends.
func (k *kafkaRunner) consume(ctx context.Context, m *meter, count int64) error {
	if count <= 0 || count > k.target {
		count = k.target
	}
	if count == 0 {
		return nil // an empty topic
	}
	cl := k.cons
	cl.AddConsumeTopics(k.o.Topic)
	var got int64
	for (count <= 0 || got < count) && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 && ctx.Err() == nil {
			for _, e := range errs {
				if !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded) {
					return fmt.Errorf("bench: fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
				}
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			m.add(1, int64(len(r.Value)))
		})
	}
	return nil
}

// e2e produces at the fixed rate, each value carrying its intended send
// time, and a consumer records now minus that time for each record.
func (k *kafkaRunner) e2e(ctx context.Context, m *meter) error {
	// Start consuming at the end so that only this run's records count.
	ends, err := kadm.NewClient(k.admin).ListEndOffsets(ctx, k.o.Topic)
	if err != nil {
		return fmt.Errorf("bench: list end offsets of %q: %w", k.o.Topic, err)
	}
	offsets := map[string]map[int32]kgo.Offset{k.o.Topic: {}}
	ends.Each(func(o kadm.ListedOffset) { offsets[k.o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.o.Brokers...), kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	pm := &meter{hist: new(Histogram)}
	clk := newClock()
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		measure := e2eMeter(m, clk)
		var got int64
		for cctx.Err() == nil && (k.o.Count <= 0 || got < k.o.Count) {
			cl.PollFetches(cctx).EachRecord(func(r *kgo.Record) {
				if measure(r.Value) {
					got++
				}
			})
		}
		done <- nil
	}()
	perr := k.produceWith(ctx, pm, k.o.Rate, clk, false)
	stopConsumer(k.o.Count, cancel, done)
	m.errors.Add(pm.errors.Load())
	return perr
}
