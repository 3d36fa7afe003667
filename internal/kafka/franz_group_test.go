package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/millrace/millrace"
)

// groupMember is a franz-go group consumer that records its assignment and
// what it consumed.
type groupMember struct {
	cl *kgo.Client
	mu sync.Mutex
	// assigned is the member's current partitions of the test topic.
	assigned map[int32]bool
	got      []wrec
}

func joinGroup(t *testing.T, ts *testServer, group, topic string) *groupMember {
	t.Helper()
	m := &groupMember{assigned: make(map[int32]bool)}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(6*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			// Commit what was consumed before giving partitions away.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit on revoke: %v", err)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range l[topic] {
				delete(m.assigned, p)
			}
		}),
	)
	if err != nil {
		t.Fatalf("new group member: %v", err)
	}
	m.cl = cl
	return m
}

func (m *groupMember) partitions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.assigned)
}

// poll consumes whatever is there for up to d.
func (m *groupMember) poll(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := m.cl.PollFetches(ctx)
	fs.EachError(func(topic string, p int32, err error) {
		if ctx.Err() == nil && err != context.DeadlineExceeded {
			t.Errorf("fetch %s/%d: %v", topic, p, err)
		}
	})
	m.mu.Lock()
	fs.EachRecord(func(r *kgo.Record) { m.got = append(m.got, fromKgo(r)) })
	m.mu.Unlock()
}

func (m *groupMember) commit(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// produceTo writes n records to each partition of topic, keyed by
// partition, and returns them.
func produceTo(t *testing.T, ts *testServer, topic string, parts int32, n int, tag string) {
	t.Helper()
	cl := newFranz(t, ts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for p := range parts {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

func TestFranzGroupRebalancesCommitsAndResumesAfterRestart(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	const topic, group, parts, per = "grp", "g1", 4, 50
	createTopic(t, ts, topic, parts)
	produceTo(t, ts, topic, parts, per, "first")

	a := joinGroup(t, ts, group, topic)
	defer a.cl.Close()
	waitFor(t, "member a to own every partition", 20*time.Second, func() bool { a.poll(t, 50*time.Millisecond); return a.partitions() == parts })
	b := joinGroup(t, ts, group, topic)
	waitFor(t, "a rebalance splitting the partitions", 20*time.Second, func() bool {
		a.poll(t, 50*time.Millisecond)
		b.poll(t, 50*time.Millisecond)
		return a.partitions() == parts/2 && b.partitions() == parts/2
	})
	b.commit(t)
	b.cl.Close() // leaves the group: a gets every partition back
	waitFor(t, "a to own every partition after b left", 20*time.Second, func() bool {
		a.poll(t, 50*time.Millisecond)
		return a.partitions() == parts
	})
	waitFor(t, "a to consume the rest", 20*time.Second, func() bool {
		a.poll(t, 50*time.Millisecond)
		return len(a.got)+len(b.got) >= parts*per
	})
	a.commit(t)

	// Every record was consumed once by one of the two (offsets committed
	// by b are where a resumed).
	seen := make(map[string]int)
	for _, r := range append(append([]wrec{}, a.got...), b.got...) {
		seen[string(r.Value)]++
	}
	if len(seen) != parts*per {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), parts*per)
	}
	adm := kadm.NewClient(newFranz(t, ts))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for p := range int32(parts) {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != per {
			t.Fatalf("committed offset of %s/%d: %+v (found %v), want %d", topic, p, o, ok, per)
		}
	}
	a.cl.Close()

	// The offsets survive a restart; a new member resumes from them.
	produceTo(t, ts, topic, parts, 10, "second")
	ts.restart()
	c := joinGroup(t, ts, group, topic)
	defer c.cl.Close()
	waitFor(t, "member c to consume the new records", 20*time.Second, func() bool {
		c.poll(t, 100*time.Millisecond)
		return len(c.got) >= parts*10
	})
	c.poll(t, 300*time.Millisecond)
	if len(c.got) != parts*10 {
		t.Fatalf("after restart the group consumed %d records, want the %d new ones", len(c.got), parts*10)
	}
	for _, r := range c.got {
		if r.Offset < per {
			t.Fatalf("after restart the group re-read %s (offset %d of partition %d)", r.Value, r.Offset, r.Partition)
		}
	}
}
