package manifest

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"time"
)

// Limits enforced on topics.
const (
	// MaxTopicNameLen is the longest valid topic name, as in Kafka.
	MaxTopicNameLen = 249
	// MaxPartitions is the largest partition count a topic may have.
	MaxPartitions = 100000
)

// TopicConfig is a topic's configuration. The four typed fields are the
// configs millrace itself acts on; 0 in SegmentBytes or MaxMessageBytes means
// "not set, use the broker default". Extra holds every other Kafka-style
// config verbatim; it must not repeat the typed ones.
type TopicConfig struct {
	RetentionBytes  int64 // per partition; -1 = unlimited
	RetentionMs     int64 // -1 = unlimited
	SegmentBytes    int64
	MaxMessageBytes int64
	// Extra holds other configs by Kafka name (e.g. "cleanup.policy"). It is
	// nil, never empty, in values read back from the manifest.
	Extra map[string]string
}

// DefaultTopicConfig returns Kafka's defaults: unlimited size, seven days,
// 1 GiB segments and 1 MiB (plus batch overhead) messages.
func DefaultTopicConfig() TopicConfig {
	return TopicConfig{RetentionBytes: -1, RetentionMs: 7 * 24 * 3600 * 1000, SegmentBytes: 1 << 30, MaxMessageBytes: 1048588}
}

// typedConfigs are the Kafka names of TopicConfig's typed fields, which
// therefore may not appear in Extra.
var typedConfigs = map[string]bool{"retention.bytes": true, "retention.ms": true, "segment.bytes": true, "max.message.bytes": true}

func (c TopicConfig) validate() error {
	switch {
	case c.RetentionBytes < -1:
		return fmt.Errorf("%w: retention bytes %d (want -1 or more)", ErrInvalid, c.RetentionBytes)
	case c.RetentionMs < -1:
		return fmt.Errorf("%w: retention ms %d (want -1 or more)", ErrInvalid, c.RetentionMs)
	case c.SegmentBytes < 0:
		return fmt.Errorf("%w: segment bytes %d is negative", ErrInvalid, c.SegmentBytes)
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("%w: max message bytes %d is negative", ErrInvalid, c.MaxMessageBytes)
	}
	for k := range c.Extra {
		if k == "" {
			return fmt.Errorf("%w: config with empty name", ErrInvalid)
		}
		if typedConfigs[k] {
			return fmt.Errorf("%w: config %q must be set through its TopicConfig field, not Extra", ErrInvalid, k)
		}
	}
	return nil
}

// Topic is a topic as recorded in the manifest.
type Topic struct {
	ID         int64
	Name       string
	UUID       [16]byte // random, generated at create, for Kafka topic IDs
	Partitions int32
	Config     TopicConfig
	CreatedAt  time.Time
}

// Partition is one partition of a topic.
type Partition struct {
	ID             int64 // global, never reused
	TopicID        int64
	Topic          string
	Index          int32
	Shard          int32 // the shard whose commit log holds its records
	LogStartOffset int64
	NextOffset     int64 // floor recorded at the last seal
}

// ValidateTopicName checks a name the way Kafka does: 1 to 249 characters of
// [a-zA-Z0-9._-], and neither "." nor "..". The error wraps ErrInvalid and
// names the offending character or the length.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name %q is reserved", ErrInvalid, name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: topic name %q has illegal character %q at byte %d (allowed: a-z A-Z 0-9 . _ -)", ErrInvalid, name, r, i)
		}
	}
	if len(name) > MaxTopicNameLen {
		return fmt.Errorf("%w: topic name is %d characters, longer than %d", ErrInvalid, len(name), MaxTopicNameLen)
	}
	return nil
}

// newTopicUUID returns a random version-4 UUID whose base64 form does not
// start with '-' (Kafka avoids those so that IDs never look like flags).
func newTopicUUID() ([16]byte, error) {
	var u [16]byte
	for {
		if _, err := rand.Read(u[:]); err != nil {
			return u, fmt.Errorf("topic uuid: %w", err)
		}
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		if u[0]>>2 != 62 {
			return u, nil
		}
	}
}

// shardsFor asks shardFor for the shard of partitions from..to-1; a nil
// shardFor puts every partition in shard 0.
func shardsFor(from, to int32, shardFor func(int32) int32) ([]int32, error) {
	shards := make([]int32, 0, to-from)
	for i := from; i < to; i++ {
		s := int32(0)
		if shardFor != nil {
			s = shardFor(i)
		}
		if s < 0 {
			return nil, fmt.Errorf("%w: shard %d for partition %d is negative", ErrInvalid, s, i)
		}
		shards = append(shards, s)
	}
	return shards, nil
}

func checkCount(n int32) error {
	if n < 1 || n > MaxPartitions {
		return fmt.Errorf("%w: partition count %d not in 1..%d", ErrInvalid, n, MaxPartitions)
	}
	return nil
}

// CreateTopic records a new topic with partitions 0..partitions-1, each in
// the shard shardFor returns for its index (shard 0 if shardFor is nil), and
// returns the topic and its partitions. It fails with ErrTopicExists if the
// name is taken and ErrInvalid for a bad name, count or config.
func (m *Manifest) CreateTopic(name string, partitions int32, cfg TopicConfig, shardFor func(index int32) int32) (Topic, []Partition, error) {
	var t Topic
	var ps []Partition
	err := m.withTx(func() string { return fmt.Sprintf("create topic %q", name) }, func(tx *sql.Tx) error {
		var err error
		t, ps, err = m.createTopicTx(tx, name, partitions, cfg, shardFor, time.Now())
		return err
	})
	if err != nil {
		return Topic{}, nil, err
	}
	return t, ps, nil
}

func (m *Manifest) createTopicTx(tx *sql.Tx, name string, partitions int32, cfg TopicConfig, shardFor func(int32) int32, now time.Time) (Topic, []Partition, error) {
	if err := ValidateTopicName(name); err != nil {
		return Topic{}, nil, err
	}
	if err := checkCount(partitions); err != nil {
		return Topic{}, nil, err
	}
	if err := cfg.validate(); err != nil {
		return Topic{}, nil, err
	}
	shards, err := shardsFor(0, partitions, shardFor)
	if err != nil {
		return Topic{}, nil, err
	}
	id, err := newTopicUUID()
	if err != nil {
		return Topic{}, nil, err
	}
	created := toNanos(now)
	res, err := tx.Stmt(m.insertTopic).Exec(name, id[:], partitions, cfg.RetentionBytes, cfg.RetentionMs,
		cfg.SegmentBytes, cfg.MaxMessageBytes, created)
	if err != nil {
		return Topic{}, nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return Topic{}, nil, err
	} else if n == 0 {
		return Topic{}, nil, ErrTopicExists
	}
	t := Topic{Name: name, UUID: id, Partitions: partitions, Config: cfg, CreatedAt: fromNanos(created)}
	if t.ID, err = res.LastInsertId(); err != nil {
		return Topic{}, nil, err
	}
	t.Config.Extra = nil
	if len(cfg.Extra) > 0 {
		t.Config.Extra = make(map[string]string, len(cfg.Extra))
		ins := tx.Stmt(m.insertConfig)
		for k, v := range cfg.Extra {
			if _, err := ins.Exec(t.ID, k, v); err != nil {
				return Topic{}, nil, fmt.Errorf("config %q: %w", k, err)
			}
			t.Config.Extra[k] = v
		}
	}
	ps, err := m.insertPartitions(tx, t, 0, shards)
	return t, ps, err
}

// insertPartitions adds partitions from, from+1, ... of t in shards.
func (m *Manifest) insertPartitions(tx *sql.Tx, t Topic, from int32, shards []int32) ([]Partition, error) {
	ins := tx.Stmt(m.insertPartition)
	ps := make([]Partition, len(shards))
	for i, s := range shards {
		idx := from + int32(i)
		res, err := ins.Exec(t.ID, idx, s)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", idx, err)
		}
		pid, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", idx, err)
		}
		ps[i] = Partition{ID: pid, TopicID: t.ID, Topic: t.Name, Index: idx, Shard: s}
	}
	return ps, nil
}

// DeleteTopic removes a topic with its configs, partitions, their spans and
// producer states, and every group offset committed for it, and returns what
// it removed. Segments stay. It fails with ErrUnknownTopic if there is none.
func (m *Manifest) DeleteTopic(name string) (Topic, []Partition, error) {
	var t Topic
	var ps []Partition
	err := m.withTx(func() string { return fmt.Sprintf("delete topic %q", name) }, func(tx *sql.Tx) error {
		var err error
		if t, err = topicWhere(tx, "t.name = ?", name); err != nil {
			return err
		}
		if ps, err = partitionsWhere(tx, "p.topic_id = ?", t.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM group_offsets WHERE topic = ?`, name); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM topics WHERE id = ?`, t.ID)
		return err
	})
	if err != nil {
		return Topic{}, nil, err
	}
	return t, ps, nil
}

// AlterConfig replaces the named topic's whole config, Extra included (it
// is not a merge), and returns the updated topic.
func (m *Manifest) AlterConfig(name string, cfg TopicConfig) (Topic, error) {
	var t Topic
	err := m.withTx(func() string { return fmt.Sprintf("alter config of topic %q", name) }, func(tx *sql.Tx) error {
		if err := cfg.validate(); err != nil {
			return err
		}
		res, err := tx.Exec(`UPDATE topics SET retention_bytes = ?, retention_ms = ?, segment_bytes = ?,
			max_message_bytes = ? WHERE name = ?`,
			cfg.RetentionBytes, cfg.RetentionMs, cfg.SegmentBytes, cfg.MaxMessageBytes, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrUnknownTopic
		}
		if _, err := tx.Exec(`DELETE FROM topic_configs WHERE topic_id = (SELECT id FROM topics WHERE name = ?)`, name); err != nil {
			return err
		}
		for k, v := range cfg.Extra {
			if _, err := tx.Exec(`INSERT INTO topic_configs(topic_id, key, value)
				SELECT id, ?, ? FROM topics WHERE name = ?`, k, v, name); err != nil {
				return fmt.Errorf("config %q: %w", k, err)
			}
		}
		t, err = topicWhere(tx, "t.name = ?", name)
		return err
	})
	if err != nil {
		return Topic{}, err
	}
	return t, nil
}

// AddPartitions raises the named topic's partition count to newCount,
// placing each new partition in the shard shardFor returns (shard 0 if nil),
// and returns the new partitions. The count only increases: a newCount not
// above the current one fails with ErrInvalid.
func (m *Manifest) AddPartitions(name string, newCount int32, shardFor func(int32) int32) ([]Partition, error) {
	var ps []Partition
	err := m.withTx(func() string { return fmt.Sprintf("add partitions to topic %q (to %d)", name, newCount) }, func(tx *sql.Tx) error {
		if err := checkCount(newCount); err != nil {
			return err
		}
		t, err := topicWhere(tx, "t.name = ?", name)
		if err != nil {
			return err
		}
		if newCount <= t.Partitions {
			return fmt.Errorf("%w: partition count %d does not increase the current %d", ErrInvalid, newCount, t.Partitions)
		}
		shards, err := shardsFor(t.Partitions, newCount, shardFor)
		if err != nil {
			return err
		}
		if ps, err = m.insertPartitions(tx, t, t.Partitions, shards); err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE topics SET partitions = ? WHERE id = ?`, newCount, t.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// SetLogStartOffsets raises the log start offsets of the given partitions
// (partition ID → offset) in one transaction. A start never moves backwards:
// each partition keeps the larger of its current and the given offset.
// Partitions that no longer exist are skipped.
func (m *Manifest) SetLogStartOffsets(starts map[int64]int64) error {
	if len(starts) == 0 {
		return nil
	}
	return m.withTx(label("set log start offsets"), func(tx *sql.Tx) error {
		st, err := tx.Prepare(`UPDATE partitions SET log_start_offset = max(log_start_offset, ?) WHERE id = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for id, off := range starts {
			if off < 0 {
				return fmt.Errorf("%w: partition %d: log start offset %d is negative", ErrInvalid, id, off)
			}
			if _, err := st.Exec(off, id); err != nil {
				return fmt.Errorf("partition %d: %w", id, err)
			}
		}
		return nil
	})
}
