package bench

import (
	"context"
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
		p.Mode, p.Count, p.Acks = "produce", 30_000, acks
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
	if _, err := Run(context.Background(), o); err == nil {
		t.Fatal("the wire client accepted --compression zstd")
	}
}

// walkFetched passes only the records at or after the offset asked for,
// and leaves a partial batch at the end for the next fetch.
func TestWalkFetchedSkipsEarlierRecordsAndKeepsAPartialBatch(t *testing.T) {
	var b []byte
	for base := range int64(2) {
		one := buildBatch(t, 10)
		setBase(one, base*10)
		b = append(b, one...)
	}
	whole := len(b)
	b = append(b, buildBatch(t, 10)[:30]...) // the start of a third batch
	var seen int64
	n, next, err := walkFetched(b[:whole+30], 5, func([]byte) { seen++ })
	if err != nil || n != 15 || seen != 15 || next != 20 {
		t.Fatalf("from offset 5: %d records (%d seen), next %d, %v; want 15, next 20", n, seen, next, err)
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
