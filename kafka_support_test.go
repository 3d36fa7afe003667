package millrace

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The look-ups the Kafka front end uses: topic ids, max timestamps,
// group offsets and producer ids, the last two durable across a reopen.
func TestTopicIDsFollowDeleteAndRecreate(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir()})
	ti, err := l.CreateTopic("ids", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.TopicByID(ti.ID)
	if err != nil || got.Name != "ids" || got.Partitions != 2 {
		t.Fatalf("TopicByID: %+v %v", got, err)
	}
	if err := l.DeleteTopic("ids"); err != nil {
		t.Fatal(err)
	}
	again, _ := l.CreateTopic("ids", 1, nil)
	if _, err := l.TopicByID(ti.ID); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("the deleted topic's id still resolves: %v", err)
	}
	if id, n, err := l.TopicID("ids"); err != nil || id != again.ID || id == ti.ID || n != 1 {
		t.Fatalf("TopicID of the re-created topic: %x %d %v", id, n, err)
	}
}

func TestMaxTimestampFindsTheRecord(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir()})
	l.CreateTopic("ts", 1, nil)
	if off, ts, err := l.MaxTimestamp("ts", 0); err != nil || off != -1 || ts != -1 {
		t.Fatalf("empty partition: %d %d %v", off, ts, err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	ctx := context.Background()
	l.Append(ctx, "ts", 0, []Record{{Timestamp: base, Value: []byte("a")}, {Timestamp: base.Add(5 * time.Second), Value: []byte("b")}}, AppendOptions{})
	l.Append(ctx, "ts", 0, []Record{{Timestamp: base.Add(time.Second), Value: []byte("c")}}, AppendOptions{})
	if off, ts, err := l.MaxTimestamp("ts", 0); err != nil || off != 1 || ts != base.Add(5*time.Second).UnixMilli() {
		t.Fatalf("max timestamp: offset %d ts %d (%v), want offset 1", off, ts, err)
	}
}

func TestGroupOffsetsAndProducerIDsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l.CreateTopic("g", 1, nil)
	if err := l.CommitGroupOffsets([]GroupOffset{{Group: "grp", Topic: "g", Partition: 0, Offset: 42, LeaderEpoch: -1}}); err != nil {
		t.Fatal(err)
	}
	id1, _ := l.NextProducerID()
	l.SetMeta("k", "v")
	l.Close()
	l, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	offs, err := l.GroupOffsets("grp")
	if err != nil || len(offs) != 1 || offs[0].Offset != 42 {
		t.Fatalf("offsets after reopen: %+v %v", offs, err)
	}
	if id2, _ := l.NextProducerID(); id2 <= id1 {
		t.Fatalf("producer id %d after reopen, %d before: ids must not repeat", id2, id1)
	}
	if v, ok, _ := l.GetMeta("k"); !ok || v != "v" {
		t.Fatalf("meta after reopen: %q %v", v, ok)
	}
	if gs, _ := l.Groups(); len(gs) != 1 || gs[0] != "grp" {
		t.Fatalf("groups: %v", gs)
	}
	l.DeleteGroupOffsets("grp", "", -1)
	if gs, _ := l.Groups(); len(gs) != 0 {
		t.Fatalf("groups after delete: %v", gs)
	}
}
