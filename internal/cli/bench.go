package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/millrace/millrace/internal/bench"
)

const benchUsage = `Usage:
  millrace bench produce|consume|e2e [flags]

Generates load against a running server over the Kafka protocol (franz-go,
the default) or the HTTP API, prints a progress line every second (rate,
p50/p99 latency) on stderr and a summary table at the end (--json for
scripts). Latency is per record over Kafka, per request over HTTP; with
--rate the run follows a fixed schedule and latency is measured from each
record's intended send time (no coordinated omission). e2e produces at
--rate and measures produce-to-consume latency at a consumer.

Examples:
  millrace bench produce --count 5000000 --partitions 8 --acks all
  millrace bench consume --topic bench
  millrace bench produce --rate 200000 --duration 30s --acks leader
  millrace bench e2e --rate 100000 --duration 20s
  millrace bench produce --transport http --batch 1000 --count 2000000 --json
`

func runBench(e *env, args []string) error {
	fs := e.newFlags("bench", benchUsage)
	server := e.serverFlag(fs)
	transport := fs.String("transport", "kafka", "kafka or http")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap addresses, comma separated")
	topic := fs.String("topic", "bench", "topic (created if missing)")
	partitions := fs.Int("partitions", 8, "partitions of a created topic")
	size := fs.Int("record-size", 128, "value bytes per record")
	count := fs.Int64("count", 0, "records to produce (default 1,000,000 unless --duration) or consume (default: the whole topic)")
	duration := fs.Duration("duration", 0, "run for this long instead of a count")
	producers := fs.Int("producers", 2, "concurrent producer clients (Kafka) or connections (HTTP)")
	acks := fs.String("acks", "all", "Kafka: all, leader or none; HTTP: durable or memory")
	linger := fs.Duration("linger", 0, "Kafka producer linger (0: none)")
	client := fs.String("client", "franz", "Kafka client: franz (franz-go) or wire (the bench's own minimal client: batches built in place, 5 requests in flight; far less CPU per record, so less of the client in a co-located measurement)")
	inflight := fs.Int("inflight", 0, "produce requests in flight per connection: franz-go with acks leader or none (0: its default, 1; its idempotent producers use 5); the wire client, at most 5 (0: 5)")
	batchBytes := fs.Int("batch-bytes", 1<<20, "Kafka producer max batch bytes")
	compression := fs.String("compression", "none", "Kafka producer batch codec: none, gzip, snappy, lz4 or zstd (values are random bytes)")
	batchRecs := fs.Int("batch", 1000, "HTTP records per request")
	rate := fs.Int("rate", 0, "records/s on a fixed schedule (0: as fast as possible; required for e2e)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress lines")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("bench: want one mode, produce, consume or e2e (see 'millrace bench --help')")
	}
	o := bench.Options{Mode: pos[0], Transport: *transport, Brokers: strings.Split(*brokers, ","), HTTPURL: *server,
		Topic: *topic, Partitions: int32(*partitions), RecordSize: *size, Count: *count, Duration: *duration,
		Producers: *producers, Acks: *acks, Linger: *linger, Inflight: *inflight, Client: *client, BatchBytes: *batchBytes, Compression: *compression, Batch: *batchRecs, Rate: *rate}
	if !*quiet {
		o.Progress = e.stderr
	}
	if os.Getenv("GOGC") == "" {
		// A load generator allocates a record per send; collecting less
		// often keeps its own pauses out of the latencies it measures.
		debug.SetGCPercent(400)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: cpu profile to %s: %w", *cpuProfile, err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.WriteTable(e.stdout)
	return nil
}
