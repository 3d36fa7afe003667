package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/batch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wireRunner drives a server over the Kafka protocol with the bench's own
// minimal client (Options.Client "wire") instead of franz-go. It exists to
// measure the server with less of the client in the way: on a machine of
// two cores the franz-go producer took about a core at a million records a
// second, and its CPU and goroutine hand-offs showed in every latency
// measured. The wire client builds each request's record batch in place
// (batch.Builder, no object per record), keeps up to five requests in
// flight per connection, reads responses on one goroutine, and parses
// fetched batches without decoding records into objects. It speaks the same
// protocol as any client: Metadata v9, InitProducerId v2 (acks=all is
// idempotent, as franz-go's is), Produce v9, ListOffsets v7 and Fetch v12,
// encoded by kmsg. It supports what the bench needs (one leader per topic,
// no compression, no retries: a failed request counts its records as
// errors) and nothing else.
type wireRunner struct {
	*kafkaRunner
	cons  *wireConn // consume: connected at setup
	start []int64   // consume: the offsets to read from
}

// wireInflight is how many produce requests a wire producer keeps in
// flight unless Options.Inflight asks for fewer: 5, the most an idempotent
// Kafka producer may (Kafka v1 and later).
const wireInflight = 5

func (k *wireRunner) setup(ctx context.Context) error {
	if k.o.Compression != "none" {
		return fmt.Errorf("bench: the wire client sends uncompressed batches; use --client franz for --compression %s", k.o.Compression)
	}
	if err := k.createTopic(ctx); err != nil {
		return err
	}
	if k.o.Mode != "consume" {
		return nil
	}
	c, wt, err := k.dialLeader(ctx)
	if err != nil {
		return err
	}
	k.cons = c
	if k.start, err = c.offsets(k.o.Topic, wt.partitions, -2); err != nil {
		return err
	}
	ends, err := c.offsets(k.o.Topic, wt.partitions, -1)
	if err != nil {
		return err
	}
	for p := range ends {
		k.target += ends[p] - k.start[p]
	}
	return nil
}

func (k *wireRunner) close() {
	if k.cons != nil {
		k.cons.close()
	}
	k.kafkaRunner.close()
}

// dialLeader connects to the first broker, learns the topic's leader and,
// if it is another address, connects there instead.
func (k *wireRunner) dialLeader(ctx context.Context) (*wireConn, wireTopic, error) {
	c, err := dialWire(ctx, k.o.Brokers[0])
	if err != nil {
		return nil, wireTopic{}, err
	}
	wt, err := c.topicMeta(ctx, k.o.Topic)
	if err != nil {
		c.close()
		return nil, wireTopic{}, err
	}
	if wt.leader == k.o.Brokers[0] {
		return c, wt, nil
	}
	c.close()
	if c, err = dialWire(ctx, wt.leader); err != nil {
		return nil, wireTopic{}, err
	}
	return c, wt, nil
}

func (k *wireRunner) produce(ctx context.Context, m *meter, rate int) error {
	return k.produceWire(ctx, m, rate, newClock(), true)
}

// produceWire runs Producers wire producers. With a rate, producer w of P
// sends the records w, w+P, w+2P, ... of the schedule, so that each
// request carries a run of one producer's records whose intended times
// follow from their numbers.
func (k *wireRunner) produceWire(ctx context.Context, m *meter, rate int, clk clock, measure bool) error {
	sched := newSchedule(rate)
	if sched != nil && measure && m.service == nil {
		m.service = new(Histogram)
	}
	errs := make([]error, k.o.Producers)
	var claimed atomic.Int64 // records claimed without a schedule, against Count
	var wg sync.WaitGroup
	for w := range k.o.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := wireProducer{k: k, m: m, sched: sched, clk: clk, measure: measure, w: int64(w), of: int64(k.o.Producers), claimed: &claimed}
			errs[w] = p.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// wireProducer is one connection's producer; run owns it.
type wireProducer struct {
	k       *wireRunner
	m       *meter
	sched   *schedule
	clk     clock
	measure bool
	w, of   int64 // this producer's number and the producers' count
	claimed *atomic.Int64
	// failed is set by the response reader when a request failed: an
	// idempotent producer's later batches to that partition would all be
	// refused as out of order, so the producer stops.
	failed atomic.Bool
}

// flight is a produce request awaiting its response (correlation id
// corr): records j..j+n-1 of this producer (with a schedule), or n records
// built at sent.
type flight struct {
	j, n  int64
	sent  time.Time
	wrote time.Time // when the request was written to the connection
	corr  int32
}

// index is the schedule's number of this producer's j-th record.
func (p *wireProducer) index(j int64) int64 { return p.w + j*p.of }

// at is when this producer's j-th record was due, or sent without a
// schedule.
func (p *wireProducer) at(f flight, q int64) time.Time {
	if p.sched == nil {
		return f.sent
	}
	return p.sched.at(p.index(f.j + q))
}

func (p *wireProducer) run(ctx context.Context) error {
	o := p.k.o
	conn, wt, err := p.k.dialLeader(ctx)
	if err != nil {
		return err
	}
	defer conn.close()
	acks := kafkaAcks(o.Acks)
	bo := batch.BuildOptions{}
	seqs := make([]int32, wt.partitions)
	if acks == -1 {
		bo.Idempotent = true
		if bo.ProducerID, bo.ProducerEpoch, err = conn.initProducer(); err != nil {
			return err
		}
	}
	maxRecs := int64(max(1, o.BatchBytes/(o.RecordSize+16)))
	inflight := wireInflight
	if o.Inflight > 0 {
		inflight = min(o.Inflight, wireInflight)
	}
	slots := make(chan struct{}, inflight)
	flights := make(chan flight, inflight)
	readDone := make(chan error, 1)
	if acks != 0 {
		go func() { readDone <- p.readResponses(conn, flights, slots) }()
	} else {
		close(readDone)
	}

	value := randomValue(o.RecordSize)
	stamped := o.RecordSize >= 8
	pace := pacer{s: p.sched}
	var bb batch.Builder
	var buf []byte
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = o.Topic
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{kmsg.NewProduceRequestTopicPartition()}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	var part int32
	var j int64 // this producer's next record
	var sendErr error
send:
	for ctx.Err() == nil && !p.failed.Load() {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break send
		}
		f := flight{j: j}
		if p.sched == nil {
			f.n = maxRecs
			if o.Count > 0 {
				// Claim up to maxRecs of what the producers have not yet.
				before := p.claimed.Add(maxRecs) - maxRecs
				f.n = min(f.n, o.Count-before)
			}
			f.sent = time.Now()
		} else {
			i := p.index(j)
			if o.Count > 0 && i >= o.Count {
				break send
			}
			if _, ok := pace.wait(ctx, i); !ok {
				break send
			}
			f.n = min(p.dueBy(j, pace.seen, o.Count), maxRecs)
		}
		if f.n <= 0 {
			break send
		}
		bo.BaseSequence = seqs[part]
		bb.Reset(bo)
		for q := range f.n {
			at := p.at(f, q)
			if stamped {
				p.clk.stamp(value, at)
			}
			bb.Add(batch.Record{Timestamp: at.UnixMilli(), Value: value})
		}
		if buf, err = bb.AppendTo(buf[:0]); err != nil {
			sendErr = fmt.Errorf("bench: wire client: build a batch: %w", err)
			break
		}
		req.Topics[0].Partitions[0].Partition = part
		req.Topics[0].Partitions[0].Records = buf
		if f.corr, sendErr = conn.send(req); sendErr != nil {
			<-slots
			break
		}
		f.wrote = time.Now()
		if acks != 0 {
			flights <- f // the reader waits for it before reading the response
		}
		seqs[part] = nextSequence(seqs[part], f.n)
		j += f.n
		part = (part + 1) % wt.partitions
		if acks == 0 {
			p.done(f, time.Now())
			<-slots
		}
	}
	close(flights)
	if sendErr != nil {
		conn.close() // the reader stops at its next read
	}
	return errors.Join(sendErr, <-readDone)
}

// readResponses reads a response for each flight in order, records its
// records' latencies (or errors), and frees its slot. The first failure (a
// read, or a partition's error) stops the producer and is returned; a
// failed read also closes the connection, so that the writer's next send
// fails at once, and the remaining flights count as errors.
func (p *wireProducer) readResponses(conn *wireConn, flights <-chan flight, slots <-chan struct{}) error {
	var first, readErr error
	resp := kmsg.NewPtrProduceResponse()
	for f := range flights {
		if readErr == nil {
			resp.Default()
			resp.Version = 9
			if readErr = conn.recv(resp, f.corr); readErr != nil {
				conn.close()
				p.failed.Store(true)
				first = cmp.Or(first, readErr)
			} else if err := produceErr(resp); err != nil {
				p.failed.Store(true)
				first = cmp.Or(first, err)
				p.m.errors.Add(f.n)
			} else {
				p.done(f, time.Now())
			}
		}
		if readErr != nil {
			p.m.errors.Add(f.n)
		}
		<-slots
	}
	return first
}

// produceErr returns the first partition error in resp, naming the
// partition, or nil.
func produceErr(resp *kmsg.ProduceResponse) error {
	for _, t := range resp.Topics {
		for _, pr := range t.Partitions {
			if err := kerr.ErrorForCode(pr.ErrorCode); err != nil {
				return fmt.Errorf("bench: wire client: produce to %s/%d: %w", t.Topic, pr.Partition, err)
			}
		}
	}
	return nil
}

// nextSequence is the base sequence after a batch of n records from seq:
// Kafka's sequences wrap from MaxInt32 to 0.
func nextSequence(seq int32, n int64) int32 {
	return int32((int64(seq) + n) % (math.MaxInt32 + 1))
}

// dueBy returns how many of this producer's records from its j-th on were
// due by now (at least 1: the caller has waited for the j-th), not counting
// records at or past count (0: no limit).
func (p *wireProducer) dueBy(j int64, now time.Time, count int64) int64 {
	// Schedule records 0..due-1 are due by now.
	due := int64(now.Sub(p.sched.start)/p.sched.interval) + 1
	if count > 0 {
		due = min(due, count)
	}
	// This producer's records are w, w+of, ...: those below due number
	// ceil((due-w)/of).
	return max(1, (due-p.w+p.of-1)/p.of-j)
}

// done accounts for a flight's records, acknowledged at now.
func (p *wireProducer) done(f flight, now time.Time) {
	p.m.add(f.n, f.n*int64(p.k.o.RecordSize))
	if !p.measure {
		return
	}
	for q := range f.n {
		p.m.hist.Record(now.Sub(p.at(f, q)))
	}
	if p.m.service != nil {
		// From the actual send, per record as hist is: what the round
		// trip took, without the client's lateness behind the schedule.
		rt := now.Sub(f.wrote)
		for range f.n {
			p.m.service.Record(rt)
		}
	}
}

// consume reads the topic from its start until count records (at most what
// it held at setup) have arrived, or ctx ends.
func (k *wireRunner) consume(ctx context.Context, m *meter, count int64) error {
	if count <= 0 || count > k.target {
		count = k.target
	}
	if count == 0 {
		return nil
	}
	return fetchWire(ctx, k.cons, k.o.Topic, k.start, count, 500, func(v []byte) { m.add(1, int64(len(v))) })
}

// fetchWire fetches the topic from the offsets given (one per partition)
// until count records (0: no limit) have been passed to onRecord or ctx
// ends, with one Fetch v12 in flight waiting at most maxWaitMs.
func fetchWire(ctx context.Context, c *wireConn, topic string, offsets []int64, count int64, maxWaitMs int32, onRecord func(value []byte)) error {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, maxWaitMs, 1, 64<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := range offsets {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = int32(p), 8<<20, -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	resp := kmsg.NewPtrFetchResponse()
	var got int64
	for (count <= 0 || got < count) && ctx.Err() == nil {
		for i := range req.Topics[0].Partitions {
			req.Topics[0].Partitions[i].FetchOffset = offsets[i]
		}
		corr, err := c.send(req)
		if err != nil {
			return err
		}
		resp.Default()
		resp.Version = 12
		if err := c.recv(resp, corr); err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("bench: wire client: fetch %s: %w", topic, err)
		}
		for _, t := range resp.Topics {
			for _, pr := range t.Partitions {
				if err := kerr.ErrorForCode(pr.ErrorCode); err != nil {
					return fmt.Errorf("bench: wire client: fetch %s/%d: %w", topic, pr.Partition, err)
				}
				if pr.Partition < 0 || int(pr.Partition) >= len(offsets) {
					return fmt.Errorf("bench: wire client: fetch %s: partition %d was not asked for", topic, pr.Partition)
				}
				n, next, err := walkFetched(pr.RecordBatches, offsets[pr.Partition], onRecord)
				if err != nil {
					return fmt.Errorf("bench: wire client: fetch %s/%d: %w", topic, pr.Partition, err)
				}
				got += n
				offsets[pr.Partition] = next
			}
		}
	}
	return nil
}

// walkFetched passes the value of every record at or after offset in the
// fetched batches b to onRecord, and returns how many it passed and the
// offset to fetch next. A partial batch at the end (a fetch may end so) is
// left for the next fetch.
func walkFetched(b []byte, offset int64, onRecord func([]byte)) (n, next int64, err error) {
	next = offset
	for len(b) > 0 {
		one, rest, err := batch.Next(b)
		if errors.Is(err, batch.ErrTruncated) {
			break
		}
		if err != nil {
			return n, next, err
		}
		b = rest
		h, err := batch.ReadHeader(one)
		if err != nil {
			return n, next, err
		}
		if h.LastOffset() < next {
			continue
		}
		if !h.Control() {
			err = batch.Records(one, func(r *batch.Record) error {
				if r.Offset >= next {
					onRecord(r.Value)
					n++
				}
				return nil
			})
			if err != nil {
				return n, next, err
			}
		}
		next = h.LastOffset() + 1
	}
	return n, next, nil
}

// e2e produces at the fixed rate with wire producers, each value carrying
// its intended send time, while a wire consumer, started at the topic's
// end, records now minus that time for each record.
func (k *wireRunner) e2e(ctx context.Context, m *meter) error {
	c, wt, err := k.dialLeader(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	offsets, err := c.offsets(k.o.Topic, wt.partitions, -1)
	if err != nil {
		return err
	}
	clk := newClock()
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	measure := e2eMeter(m, clk)
	go func() {
		done <- fetchWire(cctx, c, k.o.Topic, offsets, k.o.Count, 100, func(v []byte) { measure(v) })
	}()
	pm := &meter{hist: new(Histogram)}
	perr := k.produceWire(ctx, pm, k.o.Rate, clk, false)
	cerr := stopConsumer(k.o.Count, cancel, done) // nil when stopped by cancel
	m.errors.Add(pm.errors.Load())
	return errors.Join(perr, cerr)
}
