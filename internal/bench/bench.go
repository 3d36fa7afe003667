// Package bench is millrace's load generator, `millrace bench`: it produces
// to and consumes from a running server over the Kafka protocol (with
// franz-go) or over the HTTP API, and reports throughput and latency.
//
// Latency is recorded per record (Kafka) or per request (HTTP) in an
// HDR-style Histogram, without sampling. In a fixed-rate run (Rate > 0)
// each record has an intended send time on a fixed schedule, and its latency
// is measured from that time, not from when the client got around to
// sending it, so a stalled server cannot hide its stall by slowing the
// client down (no coordinated omission). The e2e mode produces at a fixed
// rate and measures, at the consumer, the time from each record's intended
// send time to its arrival.
//
// A Run owns every goroutine it starts and returns after they have all
// stopped: at the record count, at the duration, or when ctx is done.
package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Options describe a run. Zero values take the defaults noted.
type Options struct {
	Mode      string // "produce" (default), "consume" or "e2e"
	Transport string // "kafka" (default) or "http"
	// Client is the Kafka client: "franz" (franz-go, the default) or
	// "wire", the bench's own minimal client (see wireRunner), which
	// spends far less CPU per record and so measures a server on the same
	// machine with less of the client in the way.
	Client     string
	Brokers    []string
	HTTPURL    string // default http://127.0.0.1:8080
	Topic      string // default "bench"
	Partitions int32  // created if the topic is missing; default 8
	RecordSize int    // value bytes; default 128
	Count      int64  // records to produce (default 1,000,000 unless Duration is set) or consume (default: all the topic holds)
	Duration   time.Duration
	Producers  int           // concurrent producer clients or HTTP connections; default 2
	Acks       string        // "all" (default), "leader" or "none" (Kafka); "durable" or "memory" (HTTP)
	Linger     time.Duration // Kafka producer linger; 0 = none (send as soon as a connection is free)
	BatchBytes int           // Kafka producer max batch bytes; default 1 MiB
	// Inflight is how many produce requests a producer keeps in flight per
	// connection: for franz-go, only without idempotence (acks leader or
	// none; its default is 1, and its idempotent producers use 5); for the
	// wire client, with any acks, at most 5 (the default).
	Inflight int
	// Compression is the Kafka producer's batch codec: "none" (default),
	// "gzip", "snappy", "lz4" or "zstd". Record values are random bytes,
	// so a codec costs CPU without shrinking what the server stores.
	Compression string
	Batch       int // HTTP records per request; default 1000
	Rate        int // records/s, fixed schedule; 0 = as fast as possible
	// Progress receives a line per second; nil for none.
	Progress io.Writer
}

func (o *Options) setDefaults() error {
	if o.Mode == "" {
		o.Mode = "produce"
	}
	if o.Transport == "" {
		o.Transport = "kafka"
	}
	if o.Client == "" {
		o.Client = "franz"
	}
	if len(o.Brokers) == 0 {
		o.Brokers = []string{"127.0.0.1:9092"}
	}
	if o.HTTPURL == "" {
		o.HTTPURL = "http://127.0.0.1:8080"
	}
	if o.Topic == "" {
		o.Topic = "bench"
	}
	if o.Partitions <= 0 {
		o.Partitions = 8
	}
	if o.RecordSize <= 0 {
		o.RecordSize = 128
	}
	if o.Count <= 0 && o.Duration <= 0 && o.Mode != "consume" {
		o.Count = 1_000_000
	}
	if o.Producers <= 0 {
		o.Producers = 2
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.Compression == "" {
		o.Compression = "none"
	}
	if _, ok := codecs[o.Compression]; !ok {
		return fmt.Errorf("bench: compression %q: want none, gzip, snappy, lz4 or zstd", o.Compression)
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	switch o.Mode {
	case "produce", "consume", "e2e":
	default:
		return fmt.Errorf("bench: mode %q: want produce, consume or e2e", o.Mode)
	}
	switch o.Transport {
	case "kafka", "http":
	default:
		return fmt.Errorf("bench: transport %q: want kafka or http", o.Transport)
	}
	switch o.Client {
	case "franz", "wire":
	default:
		return fmt.Errorf("bench: client %q: want franz or wire", o.Client)
	}
	if o.Rate > maxRate {
		return fmt.Errorf("bench: rate %d records/s: at most %d (one record a nanosecond)", o.Rate, maxRate)
	}
	if o.Mode == "e2e" && o.Rate <= 0 {
		return fmt.Errorf("bench: e2e needs a fixed --rate (records/s), so that latency is measured from intended send times")
	}
	if o.Mode == "e2e" && o.RecordSize < 8 {
		return fmt.Errorf("bench: e2e needs records of at least 8 bytes (they carry their send time)")
	}
	return nil
}

// Result is a run's summary.
type Result struct {
	Mode, Transport string
	Records         int64
	Bytes           int64
	Errors          int64
	Shed            int64 // requests refused with HTTP 429 (not counted in Errors)
	Seconds         float64
	RecordsPerSec   float64
	MBPerSec        float64
	// Latency percentiles in microseconds: per record (Kafka produce and
	// e2e), per request (HTTP).
	P50, P90, P99, P999, Max int64
	// ServiceP50 and ServiceP99 (µs, fixed-rate HTTP runs and wire-client
	// Kafka produce runs) are measured from when each request was actually
	// sent: the round trip, without the client's queueing behind the
	// schedule (per request over HTTP, per record over Kafka).
	ServiceP50, ServiceP99 int64
}

// Run performs one benchmark.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.setDefaults(); err != nil {
		return Result{}, err
	}
	var r runner
	switch {
	case o.Transport == "kafka" && o.Client == "wire":
		r = &wireRunner{kafkaRunner: &kafkaRunner{o: o}}
	case o.Transport == "kafka":
		r = &kafkaRunner{o: o}
	default:
		r = &httpRunner{o: o}
	}
	if err := r.setup(ctx); err != nil {
		r.close() // what setup opened before it failed
		return Result{}, err
	}
	defer r.close()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	m := &meter{hist: new(Histogram)}
	stop := m.progress(o.Progress, o.Mode)
	start := time.Now()
	var err error
	switch o.Mode {
	case "produce":
		err = r.produce(ctx, m, o.Rate)
	case "consume":
		err = r.consume(ctx, m, o.Count)
	case "e2e":
		err = r.e2e(ctx, m)
	}
	elapsed := time.Since(start)
	stop()
	if ctx.Err() != nil && o.Duration > 0 {
		err = nil // the run ended at its duration
	}
	return m.result(o, elapsed), err
}

// runner is one transport's implementation.
type runner interface {
	setup(ctx context.Context) error
	produce(ctx context.Context, m *meter, rate int) error
	// consume reads count records (or until ctx is done).
	consume(ctx context.Context, m *meter, count int64) error
	e2e(ctx context.Context, m *meter) error
	close()
}

// maxRate is the highest fixed rate: a schedule's interval is whole
// nanoseconds.
const maxRate = int(time.Second)

// schedule paces a fixed-rate sender: wait returns the intended send time
// of the i-th record once it has come. Nothing is sent before its time, so
// that no latency is measured short; what is sent late is measured from
// its intended time (no coordinated omission).
type schedule struct {
	start    time.Time
	interval time.Duration
}

func newSchedule(rate int) *schedule {
	if rate <= 0 {
		return nil
	}
	return &schedule{start: time.Now(), interval: time.Second / time.Duration(rate)}
}

// coarseSleep is how late a timer sleep may return: Go's timers wait in
// Linux's epoll, which counts whole milliseconds, so time.Sleep(100µs)
// takes about 1.1 ms on the project's machine. A thread's nanosleep
// (threadSleep) returns about 90 µs late (p99 180 µs). Spinning would be
// finer, but a load generator that spins keeps Go's scheduler from
// polling the network, and delays the very responses it times.
const coarseSleep = 1500 * time.Microsecond

// wait blocks until the i-th record's intended send time and returns that
// time, and true; or, if ctx ends first, false: the record is not to be
// sent. Far from it, it sleeps on a timer; nearer, in a
// thread sleep, so that a record leaves about 0.1 ms after its time rather
// than up to a millisecond late. The lateness counts in the latency.
func (s *schedule) wait(ctx context.Context, i int64) (time.Time, bool) {
	at := s.at(i)
	for ctx.Err() == nil {
		d := time.Until(at)
		switch {
		case d <= 0:
			return at, true
		case d > 2*coarseSleep:
			t := time.NewTimer(d - coarseSleep)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		default:
			threadSleep(d)
		}
	}
	return at, false
}

// at is the i-th record's intended send time.
func (s *schedule) at(i int64) time.Time { return s.start.Add(time.Duration(i) * s.interval) }

// pacer is one sender's view of a schedule: it remembers the last time it
// read the clock, so that a sender behind its schedule sends every record
// already due without reading the clock for each (at a million records a
// second the clock reads were a tenth of the load generator's CPU).
type pacer struct {
	s    *schedule
	seen time.Time // a clock reading; every record due by then may go
}

// wait is schedule.wait, skipping the clock for records due by p.seen.
func (p *pacer) wait(ctx context.Context, i int64) (time.Time, bool) {
	if at := p.s.at(i); !at.After(p.seen) {
		return at, ctx.Err() == nil
	}
	at, ok := p.s.wait(ctx, i)
	p.seen = time.Now()
	return at, ok
}

// e2eMeter returns what an e2e consumer calls with each value: it records
// the time since the send time stamped in the value and counts the record,
// and reports false for a value too short to carry a stamp.
func e2eMeter(m *meter, clk clock) func(value []byte) bool {
	return func(v []byte) bool {
		if len(v) < 8 {
			return false
		}
		m.hist.Record(clk.since(v))
		m.add(1, int64(len(v)))
		return true
	}
}

// stopConsumer ends an e2e run's consumer once the producers are done: a
// timed run (count 0) gives it 200 ms to drain and then cancels it; a
// counted run lets it read its count, for at most 30 s. It returns what the
// consumer returned.
func stopConsumer(count int64, cancel context.CancelFunc, done <-chan error) error {
	if count <= 0 {
		time.Sleep(200 * time.Millisecond)
		cancel()
	} else {
		t := time.AfterFunc(30*time.Second, cancel)
		defer t.Stop()
	}
	return <-done
}
