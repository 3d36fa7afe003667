package bench

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/batch"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The wire client produces what franz-go then reads back (every record, of
// the size asked), idempotently with acks=all across partitions and
// pipelined requests (a wrong sequence would come back as an error), reads
// back what it and franz-go produced, and measures end to end.
func TestWireBenchProducesConsumesAndMeasuresEndToEnd(t *testing.T) {
	s := startFullServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := Options{Brokers: []string{s.KafkaAddr()}, Topic: "w", Partitions: 4, Producers: 2, Client: "wire"}

	for _, acks := range []string{"all", "leader", "none"} {
		p := base
		// Batches of about a hundred records: many requests per
		// partition, so that idempotent sequences advance and pipeline.
		p.Mode, p.Count, p.Acks, p.BatchBytes = "produce", 30_000, acks, 16<<10
		res, err := Run(ctx, p)
		if err != nil || res.Records != 30_000 || res.Errors != 0 || res.P50 <= 0 {
			t.Fatalf("produce acks=%s: %+v %v", acks, res, err)
		}
	}
	p := base
	p.Mode, p.Count, p.Rate = "produce", 20_000, 40_000
	res, err := Run(ctx, p)
	if err != nil || res.Records != 20_000 || res.Errors != 0 || res.P50 <= 0 || res.P99 > 5_000_000 {
		t.Fatalf("fixed-rate produce: %+v %v", res, err)
	}
	const want = 110_000

	// franz-go reads every record the wire client wrote.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != want {
		t.Fatalf("the topic holds %d records, want %d", total, want)
	}
	f := base
	f.Mode, f.Client = "consume", "franz"
	if res, err = Run(ctx, f); err != nil || res.Records != want || res.Bytes != want*128 {
		t.Fatalf("franz-go read %d records of %d bytes, want %d of 128: %v", res.Records, res.Bytes, want, err)
	}
	c := base
	c.Mode = "consume"
	if res, err = Run(ctx, c); err != nil || res.Records != want || res.Bytes != want*128 {
		t.Fatalf("the wire client read %d records of %d bytes, want %d of 128: %v", res.Records, res.Bytes, want, err)
	}
	e := base
	e.Mode, e.Rate, e.Duration = "e2e", 5000, time.Second
	res, err = Run(ctx, e)
	if err != nil || res.Records < 2000 || res.P99 <= 0 || res.P99 > 5_000_000 {
		t.Fatalf("e2e: %+v %v", res, err)
	}
}

// The wire client refuses what it does not do rather than doing it wrong.
func TestWireClientRefusesCompression(t *testing.T) {
	s := startFullServer(t)
	o := Options{Brokers: []string{s.KafkaAddr()}, Client: "wire", Compression: "zstd", Count: 10}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "uncompressed") {
		t.Fatalf("the wire client with --compression zstd: %v", err)
	}
}

// On a fixed schedule every record is sent once, stamped with its own
// intended time: read back, the stamps of N records at rate R are N
// distinct times exactly 1/R apart, whichever of the producers sent each.
func TestWireScheduleSendsEachRecordOnceWithItsOwnTime(t *testing.T) {
	s := startFullServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n, rate = 4000, 20_000
	o := Options{Brokers: []string{s.KafkaAddr()}, Topic: "sched", Partitions: 3, Producers: 3, Client: "wire",
		Mode: "produce", Count: n, Rate: rate, Acks: "leader"}
	res, err := Run(ctx, o)
	if err != nil || res.Records != n || res.Errors != 0 {
		t.Fatalf("produce: %+v %v", res, err)
	}
	// The round trip from the actual send is measured too, and is never
	// longer than the latency from the intended time, which includes it.
	if res.ServiceP50 <= 0 || res.ServiceP99 > res.P99 || res.ServiceP50 > res.P50 {
		t.Fatalf("from the actual send p50 %d µs, p99 %d µs; from the intended time p50 %d µs, p99 %d µs", res.ServiceP50, res.ServiceP99, res.P50, res.P99)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()), kgo.ConsumeTopics("sched"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var stamps []uint64
	for len(stamps) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			stamps = append(stamps, binary.LittleEndian.Uint64(r.Value))
		})
	}
	slices.Sort(stamps)
	interval := uint64(time.Second / rate)
	for i := 1; i < len(stamps); i++ {
		if d := stamps[i] - stamps[i-1]; d != interval {
			t.Fatalf("records %d and %d were stamped %d ns apart, want %d", i-1, i, d, interval)
		}
	}
	if len(stamps) != n {
		t.Fatalf("read %d records, want %d", len(stamps), n)
	}
}

// dueBy counts exactly the producer's records whose time has come: the
// last it counts is due, the next is not (or is past the count).
func TestDueByCountsTheRecordsDueAndNoMore(t *testing.T) {
	sched := newSchedule(1_000_000) // one record a microsecond
	for _, of := range []int64{1, 3} {
		for w := range of {
			p := wireProducer{sched: sched, w: w, of: of}
			for _, tc := range []struct {
				j     int64
				now   time.Duration
				count int64
			}{{0, 0, 0}, {0, 10 * time.Microsecond, 0}, {2, 10*time.Microsecond + 500, 0}, {1, time.Millisecond, 100}, {5, 7 * time.Microsecond, 0}} {
				now := sched.start.Add(tc.now)
				n := p.dueBy(tc.j, now, tc.count)
				last, next := p.index(tc.j+n-1), p.index(tc.j+n)
				if n > 1 && sched.at(last).After(now) {
					t.Errorf("w=%d of %d, %+v: counted %d, but record %d is not due", w, of, tc, n, last)
				}
				if !sched.at(next).After(now) && (tc.count == 0 || next < tc.count) {
					t.Errorf("w=%d of %d, %+v: counted %d, but record %d is due too", w, of, tc, n, next)
				}
			}
		}
	}
}

// A request the server refuses stops the producer with the server's error,
// naming the partition, rather than counting errors in silence.
func TestWireProducerStopsOnARefusedBatch(t *testing.T) {
	s := startFullServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	small := "1000"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, map[string]*string{"max.message.bytes": &small}, "small"); err != nil {
		t.Fatal(err)
	}
	o := Options{Brokers: []string{s.KafkaAddr()}, Topic: "small", Producers: 1, Client: "wire", Count: 10_000, BatchBytes: 16 << 10}
	res, err := Run(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "small/") || !strings.Contains(err.Error(), "MESSAGE_TOO_LARGE") {
		t.Fatalf("produce of 16 KiB batches to a topic of 1000-byte messages: %v", err)
	}
	if res.Records != 0 || res.Errors == 0 {
		t.Fatalf("records %d, errors %d: want none acknowledged, some failed", res.Records, res.Errors)
	}
}

// walkFetched passes only the records at or after the offset asked for,
// skips a batch wholly before it and a control batch, and leaves a partial
// batch at the end for the next fetch.
func TestWalkFetchedSkipsEarlierRecordsAndKeepsAPartialBatch(t *testing.T) {
	var b []byte
	for base := range int64(3) {
		one := buildBatch(t, 10)
		setBase(one, base*10)
		b = append(b, one...)
	}
	control := buildBatch(t, 1)
	setBase(control, 30)
	control[22] |= 0x20 // attributes: the control bit
	b = append(b, control...)
	whole := len(b)
	b = append(b, buildBatch(t, 10)[:30]...) // the start of a fifth batch
	var seen int64
	n, next, err := walkFetched(b, 15, func([]byte) { seen++ })
	if err != nil || n != 15 || seen != 15 || next != 31 {
		t.Fatalf("from offset 15: %d records (%d seen), next %d, %v; want 15, next 31", n, seen, next, err)
	}
	if n, next, err = walkFetched(b[whole:], 31, func([]byte) { seen++ }); err != nil || n != 0 || next != 31 {
		t.Fatalf("a partial batch alone: %d records, next %d, %v; want none, next 31", n, next, err)
	}
}

func buildBatch(t *testing.T, n int) []byte {
	t.Helper()
	var bb batch.Builder
	for i := range n {
		bb.Add(batch.Record{Timestamp: int64(i), Value: []byte("value")})
	}
	b, err := bb.Build()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setBase(b []byte, base int64) { batch.SetBaseOffset(b, base) }
