package manifest

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestGroupOffsets(t *testing.T) {
	m := openTest(t)
	at := time.Unix(1700000000, 0).UTC()
	off := func(g, topic string, p int32, o int64) GroupOffset {
		return GroupOffset{Group: g, Topic: topic, Partition: p, Offset: o, LeaderEpoch: -1, Metadata: "m", CommitTime: at}
	}
	if err := m.CommitOffsets([]GroupOffset{off("g1", "b", 0, 5), off("g1", "a", 1, 7), off("g1", "a", 0, 3), off("g2", "a", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	// Upsert: a second commit replaces the offset, epoch and metadata.
	upd := GroupOffset{Group: "g1", Topic: "a", Partition: 0, Offset: 42, LeaderEpoch: 3, Metadata: "new", CommitTime: at.Add(time.Second)}
	if err := m.CommitOffsets([]GroupOffset{upd}); err != nil {
		t.Fatal(err)
	}
	got, err := m.GroupOffsets("g1")
	if err != nil {
		t.Fatal(err)
	}
	want := []GroupOffset{upd, off("g1", "a", 1, 7), off("g1", "b", 0, 5)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupOffsets(g1) =\n%+v\nwant\n%+v", got, want)
	}
	if groups, _ := m.Groups(); !reflect.DeepEqual(groups, []string{"g1", "g2"}) {
		t.Errorf("Groups = %v", groups)
	}
	if got, err := m.GroupOffsets("nobody"); err != nil || len(got) != 0 {
		t.Errorf("GroupOffsets(nobody) = %v, %v", got, err)
	}

	// A bad entry rejects the whole commit.
	err = m.CommitOffsets([]GroupOffset{off("g3", "a", 0, 1), off("g3", "", 0, 1)})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("CommitOffsets with empty topic: %v, want ErrInvalid", err)
	}
	if got, _ := m.GroupOffsets("g3"); len(got) != 0 {
		t.Errorf("rejected commit stored %+v", got)
	}

	tests := []struct {
		group, topic string
		partition    int32
		left         int // offsets of the group left
	}{
		{"g1", "a", 5, 3},  // nothing there
		{"g1", "a", 1, 2},  // one partition
		{"g1", "b", -1, 1}, // whole topic
		{"g1", "", -1, 0},  // whole group
	}
	for _, tc := range tests {
		if err := m.DeleteGroupOffsets(tc.group, tc.topic, tc.partition); err != nil {
			t.Fatal(err)
		}
		if got, _ := m.GroupOffsets(tc.group); len(got) != tc.left {
			t.Errorf("after DeleteGroupOffsets(%q, %q, %d): %+v, want %d left", tc.group, tc.topic, tc.partition, got, tc.left)
		}
	}
	if groups, _ := m.Groups(); !reflect.DeepEqual(groups, []string{"g2"}) {
		t.Errorf("Groups after delete = %v", groups)
	}
	if err := m.DeleteGroupOffsets("", "a", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteGroupOffsets with empty group: %v", err)
	}
}

func TestDeleteTopicDeletesGroupOffsetsAndProducerStates(t *testing.T) {
	m := openTest(t)
	_, ps := mustCreate(t, m, "doomed", 1, nil)
	_, other := mustCreate(t, m, "other", 1, nil)
	if err := m.CommitOffsets([]GroupOffset{{Group: "g", Topic: "doomed", Partition: 0, Offset: 1},
		{Group: "g", Topic: "other", Partition: 0, Offset: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveProducerStates([]ProducerState{{ProducerID: 1, PartitionID: ps[0].ID},
		{ProducerID: 1, PartitionID: other[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.GroupOffsets("g"); len(got) != 1 || got[0].Topic != "other" {
		t.Errorf("group offsets after DeleteTopic: %+v", got)
	}
	if got, _ := m.ProducerStates(); len(got) != 1 || got[0].PartitionID != other[0].ID {
		t.Errorf("producer states after DeleteTopic: %+v", got)
	}
}

func TestProducerStates(t *testing.T) {
	m := openTest(t)
	_, ps := mustCreate(t, m, "t", 2, nil)
	at := time.Unix(1700000000, 0).UTC()
	s1 := ProducerState{ProducerID: 9, Epoch: 2, PartitionID: ps[1].ID, LastSequence: 10, LastOffset: 100, UpdatedAt: at}
	s2 := ProducerState{ProducerID: 9, Epoch: 2, PartitionID: ps[0].ID, LastSequence: 4, LastOffset: 50, UpdatedAt: at}
	s3 := ProducerState{ProducerID: 3, Epoch: 0, PartitionID: ps[0].ID, LastSequence: 0, LastOffset: 7, UpdatedAt: at.Add(-time.Hour)}
	unknown := ProducerState{ProducerID: 3, PartitionID: 999999}
	if err := m.SaveProducerStates([]ProducerState{s1, s2, s3, unknown}); err != nil {
		t.Fatal(err)
	}
	s1.Epoch, s1.LastSequence, s1.LastOffset = 3, 0, 200
	if err := m.SaveProducerStates([]ProducerState{s1}); err != nil {
		t.Fatal(err)
	}
	got, err := m.ProducerStates()
	if err != nil {
		t.Fatal(err)
	}
	if want := []ProducerState{s3, s2, s1}; !reflect.DeepEqual(got, want) {
		t.Errorf("ProducerStates =\n%+v\nwant\n%+v", got, want)
	}
	if n, err := m.DeleteProducerStates(at.Add(-time.Minute)); err != nil || n != 1 {
		t.Errorf("DeleteProducerStates = %d, %v, want 1", n, err)
	}
	if got, _ := m.ProducerStates(); len(got) != 2 {
		t.Errorf("after expiry %d states, want 2", len(got))
	}
}

func TestNextProducerIDIncreasesAcrossReopen(t *testing.T) {
	path := t.TempDir() + "/m.db"
	last := int64(0)
	for round := 0; round < 3; round++ {
		m, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			id, err := m.NextProducerID()
			if err != nil {
				t.Fatal(err)
			}
			if id != last+1 {
				t.Fatalf("round %d: NextProducerID = %d after %d", round, id, last)
			}
			last = id
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMeta(t *testing.T) {
	m := openTest(t)
	if v, ok, err := m.GetMeta("cluster.id"); err != nil || ok || v != "" {
		t.Errorf("GetMeta(missing) = %q, %v, %v", v, ok, err)
	}
	for _, v := range []string{"abc", "", "def"} {
		if err := m.SetMeta("cluster.id", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := m.GetMeta("cluster.id"); err != nil || !ok || got != v {
			t.Errorf("GetMeta = %q, %v, %v, want %q", got, ok, err, v)
		}
	}
	if err := m.SetMeta("", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetMeta with empty key: %v", err)
	}
	// The key/value table is separate from the schema's own metadata.
	if _, ok, _ := m.GetMeta("schema_version"); ok {
		t.Error("schema_version is visible through GetMeta")
	}
}
