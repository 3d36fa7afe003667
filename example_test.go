package millrace_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/millrace/millrace"
)

func Example() {
	dir, _ := os.MkdirTemp("", "millrace-example")
	defer os.RemoveAll(dir)

	l, err := millrace.Open(millrace.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	if _, err := l.CreateTopic("orders", 3, nil); err != nil {
		log.Fatal(err)
	}
	res, err := l.Append(ctx, "orders", 0, []millrace.Record{
		{Key: []byte("alice"), Value: []byte("book")},
		{Key: []byte("bob"), Value: []byte("lamp")},
	}, millrace.AppendOptions{}) // durable: returns after the fsync
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended at offsets", res.BaseOffset, "to", res.LastOffset)

	recs, next, err := l.Read("orders", 0, 0, millrace.ReadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Printf("%d %s=%s\n", r.Offset, r.Key, r.Value)
	}
	fmt.Println("next offset", next.NextOffset)
	// Output:
	// appended at offsets 0 to 1
	// 0 alice=book
	// 1 bob=lamp
	// next offset 2
}

func ExampleLog_Follow() {
	dir, _ := os.MkdirTemp("", "millrace-example")
	defer os.RemoveAll(dir)
	l, err := millrace.Open(millrace.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	l.CreateTopic("events", 1, nil)
	go func() {
		for _, v := range []string{"one", "two", "three"} {
			l.Append(ctx, "events", 0, []millrace.Record{{Value: []byte(v)}}, millrace.AppendOptions{})
		}
	}()
	seen := 0
	l.Follow(ctx, "events", 0, 0, millrace.ReadOptions{}, func(r millrace.Record) error {
		fmt.Println(r.Offset, string(r.Value))
		if seen++; seen == 3 {
			cancel() // stop following
		}
		return nil
	})
	// Output:
	// 0 one
	// 1 two
	// 2 three
}

func ExampleLog_OffsetForTime() {
	dir, _ := os.MkdirTemp("", "millrace-example")
	defer os.RemoveAll(dir)
	l, _ := millrace.Open(millrace.Options{Dir: dir})
	defer l.Close()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var recs []millrace.Record
	for i := range 60 {
		recs = append(recs, millrace.Record{Timestamp: t0.Add(time.Duration(i) * time.Minute), Value: []byte(fmt.Sprint(i))})
	}
	l.Append(context.Background(), "metrics", 0, recs, millrace.AppendOptions{})
	off, _ := l.OffsetForTime("metrics", 0, t0.Add(30*time.Minute))
	fmt.Println("first record at or after 12:30 is offset", off)
	// Output: first record at or after 12:30 is offset 30
}
