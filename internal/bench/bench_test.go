package bench

import (
	"context"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

func startServer(t *testing.T) string {
	t.Helper()
	return "http://" + startFullServer(t).Addr()
}

func startFullServer(t *testing.T) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.Data, cfg.HTTPAddr, cfg.KafkaAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	s, err := server.Start(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestHTTPBenchProducesConsumesAndMeasuresEndToEnd(t *testing.T) {
	url := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := Options{Transport: "http", HTTPURL: url, Topic: "b", Partitions: 4, Batch: 500, Producers: 2}

	p := base
	p.Mode, p.Count = "produce", 20_000
	res, err := Run(ctx, p)
	if err != nil || res.Records != 20_000 || res.Errors != 0 || res.P50 <= 0 || res.RecordsPerSec <= 0 {
		t.Fatalf("produce: %+v %v", res, err)
	}
	c := base
	c.Mode = "consume"
	res, err = Run(ctx, c)
	if err != nil || res.Records != 20_000 {
		t.Fatalf("consume read %d records, want the 20000 produced: %v", res.Records, err)
	}
	e := base
	e.Mode, e.Rate, e.Duration = "e2e", 5000, time.Second
	res, err = Run(ctx, e)
	if err != nil || res.Records < 2000 || res.P99 <= 0 || res.P99 > 5_000_000 {
		t.Fatalf("e2e: %+v %v", res, err)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, o := range []Options{{Mode: "fly"}, {Transport: "smoke"}, {Mode: "e2e"}, {Mode: "e2e", Rate: 10, RecordSize: 4}, {Compression: "brotli"}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
}

func TestKafkaBenchProducesConsumesAndMeasuresEndToEnd(t *testing.T) {
	s := startFullServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := Options{Brokers: []string{s.KafkaAddr()}, Topic: "k", Partitions: 4, Producers: 2}

	p := base
	p.Mode, p.Count, p.Rate, p.Acks = "produce", 20_000, 40_000, "leader"
	res, err := Run(ctx, p)
	if err != nil || res.Records != 20_000 || res.Errors != 0 || res.P50 <= 0 || res.P99 > 5_000_000 {
		t.Fatalf("produce: %+v %v", res, err)
	}
	c := base
	c.Mode = "consume"
	res, err = Run(ctx, c)
	if err != nil || res.Records != 20_000 || res.Bytes != 20_000*128 {
		t.Fatalf("consume read %d records of %d bytes, want the 20000 of 128 bytes produced: %v", res.Records, res.Bytes, err)
	}
	e := base
	e.Mode, e.Rate, e.Duration, e.Compression = "e2e", 5000, time.Second, "lz4"
	res, err = Run(ctx, e)
	if err != nil || res.Records < 2000 || res.P99 <= 0 || res.P99 > 5_000_000 {
		t.Fatalf("e2e: %+v %v", res, err)
	}
}

// A fixed-rate schedule never lets a record go before its intended time
// (a latency measured from a later time would be short), and keeps to the
// rate: 2,000 records at 100,000/s take about 20 ms, not a millisecond per
// timer sleep.
func TestScheduleNeverSendsEarly(t *testing.T) {
	s := newSchedule(100_000)
	var late time.Duration
	for i := range int64(2000) {
		at, ok := s.wait(context.Background(), i)
		if !ok {
			t.Fatalf("record %d: wait gave up without a deadline", i)
		}
		now := time.Now()
		if now.Before(at) {
			t.Fatalf("record %d released %v before its time", i, at.Sub(now))
		}
		late = max(late, now.Sub(at))
	}
	if took := time.Since(s.start); took < 19*time.Millisecond || took > 2*time.Second {
		t.Fatalf("2000 records at 100000/s took %v", took)
	}
	t.Logf("latest release: %v after its time", late)
}

// A pacer, which reads the clock only when the next record is not yet due
// by its last reading, keeps the same promise: no record before its time.
func TestPacerNeverSendsEarly(t *testing.T) {
	p := pacer{s: newSchedule(1_000_000)}
	for i := range int64(50_000) {
		at, ok := p.wait(context.Background(), i)
		if !ok {
			t.Fatalf("record %d: wait gave up without a deadline", i)
		}
		if now := time.Now(); now.Before(at) {
			t.Fatalf("record %d released %v before its time", i, at.Sub(now))
		}
	}
}

// A record whose time comes after the run's end is not sent.
func TestScheduleGivesUpAtTheDeadline(t *testing.T) {
	s := newSchedule(10) // one record per 100 ms
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, ok := s.wait(ctx, 0); !ok {
		t.Fatal("the first record, due at once, was refused")
	}
	if at, ok := s.wait(ctx, 1); ok {
		t.Fatalf("a record due at %v, after the deadline, was released", at.Sub(s.start))
	}
}

// Both Kafka clients read --acks the same way: leader or 1, none or 0,
// and all (or -1, or anything else) for every in-sync replica.
func TestKafkaAcksLevels(t *testing.T) {
	for s, want := range map[string]int16{"leader": 1, "1": 1, "none": 0, "0": 0, "all": -1, "-1": -1, "": -1} {
		if got := kafkaAcks(s); got != want {
			t.Errorf("kafkaAcks(%q) = %d, want %d", s, got, want)
		}
	}
}
