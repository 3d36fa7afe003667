package manifest

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// openTest opens a fresh manifest in a temporary directory and closes it
// when the test ends.
func openTest(t testing.TB) *Manifest {
	t.Helper()
	m, err := Open(filepath.Join(t.TempDir(), "manifest.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// mustCreate creates a topic or fails the test.
func mustCreate(t testing.TB, m *Manifest, name string, n int32, shardFor func(int32) int32) (Topic, []Partition) {
	t.Helper()
	tp, ps, err := m.CreateTopic(name, n, DefaultTopicConfig(), shardFor)
	if err != nil {
		t.Fatalf("CreateTopic(%q, %d): %v", name, n, err)
	}
	return tp, ps
}

func modShard(n int32) func(int32) int32 { return func(i int32) int32 { return i % n } }

func TestCreateDescribeListDeleteTopics(t *testing.T) {
	m := openTest(t)
	cfg := TopicConfig{RetentionBytes: 1 << 20, RetentionMs: -1, SegmentBytes: 4096, MaxMessageBytes: 100,
		Extra: map[string]string{"cleanup.policy": "compact", "min.insync.replicas": "1"}}
	created, ps, err := m.CreateTopic("orders", 3, cfg, modShard(2))
	if err != nil {
		t.Fatal(err)
	}
	if created.Name != "orders" || created.Partitions != 3 || created.ID == 0 || created.CreatedAt.IsZero() {
		t.Errorf("created topic = %+v", created)
	}
	if created.UUID == ([16]byte{}) {
		t.Error("topic UUID is zero")
	}
	if !reflect.DeepEqual(created.Config, cfg) {
		t.Errorf("config = %+v, want %+v", created.Config, cfg)
	}
	for i, p := range ps {
		want := Partition{ID: p.ID, TopicID: created.ID, Topic: "orders", Index: int32(i), Shard: int32(i) % 2}
		if p != want || p.ID == 0 {
			t.Errorf("partition %d = %+v, want %+v", i, p, want)
		}
	}

	got, err := m.Topic("orders")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, created) {
		t.Errorf("Topic = %+v, want %+v", got, created)
	}
	byID, err := m.TopicByUUID(created.UUID)
	if err != nil || byID.Name != "orders" {
		t.Errorf("TopicByUUID = %+v, %v", byID, err)
	}

	other, _ := mustCreate(t, m, "accounts", 2, nil)
	topics, err := m.Topics()
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 2 || topics[0].Name != "accounts" || topics[1].Name != "orders" {
		t.Fatalf("Topics = %+v, want accounts, orders", topics)
	}
	if other.UUID == created.UUID {
		t.Error("two topics share a UUID")
	}
	all, err := m.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range all {
		names = append(names, p.Topic+"/"+string(rune('0'+p.Index)))
	}
	if want := "accounts/0 accounts/1 orders/0 orders/1 orders/2"; strings.Join(names, " ") != want {
		t.Errorf("Partitions = %v, want %s", names, want)
	}

	delTopic, delParts, err := m.DeleteTopic("orders")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(delTopic, created) || !reflect.DeepEqual(delParts, ps) {
		t.Errorf("DeleteTopic returned %+v %+v", delTopic, delParts)
	}
	if _, err := m.Topic("orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("Topic after delete: %v, want ErrUnknownTopic", err)
	}
	if _, _, err := m.DeleteTopic("orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("second DeleteTopic: %v, want ErrUnknownTopic", err)
	}
	if all, _ = m.Partitions(); len(all) != 2 {
		t.Errorf("after delete %d partitions remain, want 2", len(all))
	}

	// Recreating the name gives a new topic with new partition IDs.
	again, ps2 := mustCreate(t, m, "orders", 1, nil)
	if again.ID == created.ID || again.UUID == created.UUID || ps2[0].ID <= ps[2].ID {
		t.Errorf("recreated topic reuses IDs: %+v %+v", again, ps2)
	}
}

func TestCreateTopicRejects(t *testing.T) {
	m := openTest(t)
	mustCreate(t, m, "taken", 1, nil)
	tests := []struct {
		name       string
		topic      string
		partitions int32
		cfg        TopicConfig
		shardFor   func(int32) int32
		want       error
	}{
		{"duplicate", "taken", 1, TopicConfig{}, nil, ErrTopicExists},
		{"zero partitions", "t", 0, TopicConfig{}, nil, ErrInvalid},
		{"too many partitions", "t", MaxPartitions + 1, TopicConfig{}, nil, ErrInvalid},
		{"negative retention", "t", 1, TopicConfig{RetentionMs: -2}, nil, ErrInvalid},
		{"typed config in Extra", "t", 1, TopicConfig{Extra: map[string]string{"retention.ms": "1"}}, nil, ErrInvalid},
		{"negative shard", "t", 2, TopicConfig{}, func(int32) int32 { return -1 }, ErrInvalid},
		{"bad name", "a/b", 1, TopicConfig{}, nil, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := m.CreateTopic(tc.topic, tc.partitions, tc.cfg, tc.shardFor)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CreateTopic: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.topic) {
				t.Errorf("error %q does not name the topic", err)
			}
		})
	}
	if topics, _ := m.Topics(); len(topics) != 1 {
		t.Errorf("failed creates left %d topics, want 1", len(topics))
	}
}

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // substring of the error; "" = valid
	}{
		{"a", ""},
		{"Orders_2024-01.v2", ""},
		{"...", ""},
		{strings.Repeat("x", 249), ""},
		{"", "empty"},
		{".", "reserved"},
		{"..", "reserved"},
		{strings.Repeat("x", 250), "250 characters"},
		{"with space", `' '`},
		{"a/b", `'/'`},
		{"tab\t", `'\t'`},
		{"ünï", `'ü'`},
		{"a:b", `':'`},
	}
	for _, tc := range tests {
		err := ValidateTopicName(tc.name)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateTopicName(%q) = %v, want nil", tc.name, err)
		case tc.wantErr != "" && !errors.Is(err, ErrInvalid):
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalid", tc.name, err)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("ValidateTopicName(%q) = %q, want it to mention %s", tc.name, err, tc.wantErr)
		}
	}
}

func TestAlterConfigRoundTrip(t *testing.T) {
	m := openTest(t)
	mustCreate(t, m, "t", 1, nil)
	steps := []TopicConfig{
		{RetentionBytes: 10, RetentionMs: 20, SegmentBytes: 30, MaxMessageBytes: 40,
			Extra: map[string]string{"cleanup.policy": "compact", "compression.type": "zstd"}},
		{RetentionBytes: -1, RetentionMs: -1, SegmentBytes: 1, MaxMessageBytes: 1,
			Extra: map[string]string{"cleanup.policy": "delete", "weird key": "value with = and ,"}},
		{RetentionBytes: -1, RetentionMs: -1}, // Extra removed entirely
	}
	for i, cfg := range steps {
		got, err := m.AlterConfig("t", cfg)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !reflect.DeepEqual(got.Config, cfg) {
			t.Errorf("step %d: AlterConfig returned %+v, want %+v", i, got.Config, cfg)
		}
		if read, _ := m.Topic("t"); !reflect.DeepEqual(read.Config, cfg) {
			t.Errorf("step %d: Topic config %+v, want %+v", i, read.Config, cfg)
		}
	}
	if _, err := m.AlterConfig("missing", TopicConfig{}); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("AlterConfig(missing): %v, want ErrUnknownTopic", err)
	}
	if _, err := m.AlterConfig("t", TopicConfig{SegmentBytes: -5}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AlterConfig(bad): %v, want ErrInvalid", err)
	}
}

func TestAddPartitionsOnlyUp(t *testing.T) {
	m := openTest(t)
	_, first := mustCreate(t, m, "t", 2, nil)
	tests := []struct {
		newCount  int32
		wantErr   error
		wantTotal int32
	}{
		{2, ErrInvalid, 2},
		{1, ErrInvalid, 2},
		{5, nil, 5},
		{4, ErrInvalid, 5},
		{6, nil, 6},
		{MaxPartitions + 1, ErrInvalid, 6},
	}
	for _, tc := range tests {
		before, _ := m.Topic("t")
		added, err := m.AddPartitions("t", tc.newCount, func(i int32) int32 { return 7 })
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("AddPartitions(%d): %v, want %v", tc.newCount, err, tc.wantErr)
		}
		if err == nil {
			if len(added) != int(tc.newCount-before.Partitions) {
				t.Errorf("AddPartitions(%d) returned %d partitions", tc.newCount, len(added))
			}
			for i, p := range added {
				if p.Index != before.Partitions+int32(i) || p.Shard != 7 || p.Topic != "t" || p.ID <= first[1].ID {
					t.Errorf("new partition %+v", p)
				}
			}
		}
		if after, _ := m.Topic("t"); after.Partitions != tc.wantTotal {
			t.Errorf("after AddPartitions(%d) count = %d, want %d", tc.newCount, after.Partitions, tc.wantTotal)
		}
	}
	ps, _ := m.TopicPartitions("t")
	for i, p := range ps {
		if p.Index != int32(i) {
			t.Errorf("partition %d has index %d", i, p.Index)
		}
	}
	if _, err := m.AddPartitions("missing", 3, nil); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("AddPartitions(missing): %v, want ErrUnknownTopic", err)
	}
}

func TestSetLogStartOffsetsNeverBackwards(t *testing.T) {
	m := openTest(t)
	_, ps := mustCreate(t, m, "t", 2, nil)
	a, b := ps[0].ID, ps[1].ID
	tests := []struct {
		set       map[int64]int64
		wantA     int64
		wantB     int64
		wantErrIs error
	}{
		{map[int64]int64{a: 10, b: 5}, 10, 5, nil},
		{map[int64]int64{a: 3}, 10, 5, nil},                  // backwards: kept
		{map[int64]int64{a: 10, b: 20}, 10, 20, nil},         // same and forward
		{map[int64]int64{a: 99, 123456: 1}, 99, 20, nil},     // unknown partition skipped
		{map[int64]int64{a: 200, b: -1}, 99, 20, ErrInvalid}, // rejected as a whole
		{nil, 99, 20, nil},
	}
	for i, tc := range tests {
		if err := m.SetLogStartOffsets(tc.set); !errors.Is(err, tc.wantErrIs) {
			t.Fatalf("step %d: SetLogStartOffsets: %v, want %v", i, err, tc.wantErrIs)
		}
		got, _ := m.TopicPartitions("t")
		if got[0].LogStartOffset != tc.wantA || got[1].LogStartOffset != tc.wantB {
			t.Errorf("step %d: starts = %d, %d, want %d, %d", i, got[0].LogStartOffset, got[1].LogStartOffset, tc.wantA, tc.wantB)
		}
	}
}
