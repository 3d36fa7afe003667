// Command rtt measures Kafka produce round trips against a running server
// (issue 6): one franz-go client produces -rate records/s of 128 random
// bytes with acks=1 and no linger for -seconds, and prints, per record, the
// time from Produce to its promise (from the actual send, not a schedule),
// and, per Produce request, franz-go's own view of it (BrokerE2E: write
// wait, write, read wait and read). It separates the server and network
// round trip from the client's queueing.
//
//	go run ./bench/rtt -brokers 127.0.0.1:9092 -rate 10000 -seconds 3
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// requests collects franz-go's per-request timings of Produce.
type requests struct {
	mu       sync.Mutex
	e2e, rtt []time.Duration
}

func (h *requests) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != 0 || e.WriteErr != nil || e.ReadErr != nil {
		return
	}
	h.mu.Lock()
	h.e2e = append(h.e2e, e.DurationE2E())
	h.rtt = append(h.rtt, e.ReadWait+e.TimeToRead)
	h.mu.Unlock()
}

func summary(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(d), at(0.5), at(0.99), d[len(d)-1])
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap broker")
	topic := flag.String("topic", "bench", "topic (must exist)")
	rate := flag.Int("rate", 10000, "records/s")
	seconds := flag.Int("seconds", 3, "run length")
	flag.Parse()

	h := &requests{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(*brokers), kgo.DefaultProduceTopic(*topic), kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.WithHooks(h))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 128)
	rand.Read(value)

	var mu sync.Mutex
	var records []time.Duration
	var wg sync.WaitGroup
	start, interval, n := time.Now(), time.Second/time.Duration(*rate), *rate**seconds
	for i := range n {
		// Coarse pacing (Go timers wait in whole milliseconds): records go
		// in small bursts, each timed from its own Produce call.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sent := time.Now()
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				log.Fatalf("produce: %v", err)
			}
			d := time.Since(sent)
			mu.Lock()
			records = append(records, d)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	fmt.Println("record, Produce to promise:  ", summary(records))
	fmt.Println("request, write to response:  ", summary(h.e2e))
	fmt.Println("request, written to response:", summary(h.rtt))
}
