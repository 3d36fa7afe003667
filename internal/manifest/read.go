package manifest

import (
	"cmp"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// queryer is what reads need from *sql.DB and *sql.Tx.
type queryer interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

const topicSelect = `SELECT t.id, t.name, t.uuid, t.partitions, t.retention_bytes, t.retention_ms,
	t.segment_bytes, t.max_message_bytes, t.created_at FROM topics t`

// topicsWhere returns the topics matching where, ordered by name, with
// their Extra configs.
func topicsWhere(q queryer, where string, args ...any) ([]Topic, error) {
	query := topicSelect
	if where != "" {
		query += " WHERE " + where
	}
	rows, err := q.Query(query+" ORDER BY t.name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []Topic
	var id sql.RawBytes
	var parts, created int64
	for rows.Next() {
		var t Topic
		c := &t.Config
		// Scanning into int64 and RawBytes avoids database/sql's reflection
		// and copies, which dominate loading many topics.
		if err := rows.Scan(&t.ID, &t.Name, &id, &parts, &c.RetentionBytes, &c.RetentionMs,
			&c.SegmentBytes, &c.MaxMessageBytes, &created); err != nil {
			return nil, err
		}
		if copy(t.UUID[:], id) != 16 {
			return nil, fmt.Errorf("%w: topic %q has a %d-byte uuid", ErrCorrupt, t.Name, len(id))
		}
		t.Partitions = int32(parts)
		t.CreatedAt = fromNanos(created)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return ts, loadExtras(q, ts, where == "")
}

// loadExtras fills in the Extra configs of ts: all of the table's rows in
// one pass if all is set (ts is every topic), else topic by topic.
func loadExtras(q queryer, ts []Topic, all bool) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[int64]*Topic, len(ts))
	for i := range ts {
		byID[ts[i].ID] = &ts[i]
	}
	load := func(query string, args ...any) error {
		rows, err := q.Query(query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var k, v string
			if err := rows.Scan(&id, &k, &v); err != nil {
				return err
			}
			if t := byID[id]; t != nil {
				if t.Config.Extra == nil {
					t.Config.Extra = make(map[string]string)
				}
				t.Config.Extra[k] = v
			}
		}
		return rows.Err()
	}
	if all {
		return load(`SELECT topic_id, key, value FROM topic_configs`)
	}
	for _, t := range ts {
		if err := load(`SELECT topic_id, key, value FROM topic_configs WHERE topic_id = ?`, t.ID); err != nil {
			return err
		}
	}
	return nil
}

// topicWhere returns the one topic matching where, or ErrUnknownTopic.
func topicWhere(q queryer, where string, args ...any) (Topic, error) {
	ts, err := topicsWhere(q, where, args...)
	if err != nil {
		return Topic{}, err
	}
	if len(ts) == 0 {
		return Topic{}, ErrUnknownTopic
	}
	return ts[0], nil
}

// partitionsWhere returns the partitions matching where, ordered by topic
// name then index. It reads in table order and sorts here: with many
// topics that is several times faster than SQLite walking the name index.
func partitionsWhere(q queryer, where string, args ...any) ([]Partition, error) {
	query := `SELECT p.id, p.topic_id, t.name, p.idx, p.shard, p.log_start_offset, p.next_offset
		FROM partitions p JOIN topics t ON t.id = p.topic_id`
	if where != "" {
		query += " WHERE " + where
	}
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []Partition
	var idx, shard int64
	for rows.Next() {
		var p Partition
		if err := rows.Scan(&p.ID, &p.TopicID, &p.Topic, &idx, &shard, &p.LogStartOffset, &p.NextOffset); err != nil {
			return nil, err
		}
		p.Index, p.Shard = int32(idx), int32(shard)
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(ps, func(a, b Partition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
	return ps, nil
}

// Topic returns the named topic, or an error wrapping ErrUnknownTopic.
func (m *Manifest) Topic(name string) (Topic, error) {
	var t Topic
	err := m.read(func() string { return fmt.Sprintf("topic %q", name) }, func(tx *sql.Tx) (err error) {
		t, err = topicWhere(tx, "t.name = ?", name)
		return err
	})
	return t, err
}

// TopicByUUID returns the topic with the given Kafka topic ID, or an error
// wrapping ErrUnknownTopic.
func (m *Manifest) TopicByUUID(id [16]byte) (Topic, error) {
	var t Topic
	err := m.read(func() string { return fmt.Sprintf("topic with uuid %x", id) }, func(tx *sql.Tx) (err error) {
		t, err = topicWhere(tx, "t.uuid = ?", id[:])
		return err
	})
	return t, err
}

// Topics returns every topic, ordered by name.
func (m *Manifest) Topics() ([]Topic, error) {
	var ts []Topic
	err := m.read(label("list topics"), func(tx *sql.Tx) (err error) {
		ts, err = topicsWhere(tx, "")
		return err
	})
	return ts, err
}

// Partitions returns every partition, ordered by topic name then index.
func (m *Manifest) Partitions() ([]Partition, error) {
	ps, err := partitionsWhere(m.db, "")
	if err != nil {
		return nil, fmt.Errorf("manifest: list partitions: %w", err)
	}
	return ps, nil
}

// TopicPartitions returns the partitions of the named topic, ordered by
// index, or an error wrapping ErrUnknownTopic.
func (m *Manifest) TopicPartitions(name string) ([]Partition, error) {
	var ps []Partition
	err := m.read(func() string { return fmt.Sprintf("partitions of topic %q", name) }, func(tx *sql.Tx) error {
		t, err := topicWhere(tx, "t.name = ?", name)
		if err != nil {
			return err
		}
		ps, err = partitionsWhere(tx, "p.topic_id = ?", t.ID)
		return err
	})
	return ps, err
}
