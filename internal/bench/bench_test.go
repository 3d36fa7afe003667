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
	cfg := config.Default()
	cfg.Data, cfg.HTTPAddr, cfg.KafkaAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	s, err := server.Start(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return "http://" + s.Addr()
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
	for _, o := range []Options{{Mode: "fly"}, {Transport: "smoke"}, {Mode: "e2e"}, {Mode: "e2e", Rate: 10, RecordSize: 4}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
}
