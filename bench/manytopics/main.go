// Command manytopics creates many topics on a running millrace server over
// the Kafka protocol (CreateTopics requests of 1,000 names each) and reports
// how long it took. bench/manytopics.sh runs it and measures the server's
// memory and its restart time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap address")
	n := flag.Int("n", 100000, "topics to create")
	per := flag.Int("batch", 1000, "topics per CreateTopics request")
	flag.Parse()
	cl, err := kgo.NewClient(kgo.SeedBrokers(*brokers), kgo.RequestTimeoutOverhead(5*time.Minute))
	if err != nil {
		fmt.Fprintln(os.Stderr, "manytopics:", err)
		os.Exit(1)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(300_000)
	start := time.Now()
	failed := 0
	for i := 0; i < *n; i += *per {
		names := make([]string, 0, *per)
		for j := i; j < min(i+*per, *n); j++ {
			names = append(names, fmt.Sprintf("t-%06d", j))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		resp, err := adm.CreateTopics(ctx, 1, 1, nil, names...)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "manytopics: create:", err)
			os.Exit(1)
		}
		for _, r := range resp {
			if r.Err != nil {
				failed++
			}
		}
	}
	took := time.Since(start)
	fmt.Printf("created %d topics (%d failed) in %v (%.0f topics/s)\n", *n-failed, failed, took.Round(time.Millisecond), float64(*n-failed)/took.Seconds())
}
