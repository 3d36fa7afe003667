package manifest

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// GroupOffset is the offset a consumer group committed for one partition,
// addressed by topic name and partition index as in Kafka.
type GroupOffset struct {
	Group       string
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32 // -1 = unknown
	Metadata    string
	CommitTime  time.Time
}

// CommitOffsets upserts the given offsets in one transaction. Group and
// topic must be non-empty and the partition not negative; whether the topic
// and partition exist is the caller's concern.
func (m *Manifest) CommitOffsets(offs []GroupOffset) error {
	if len(offs) == 0 {
		return nil
	}
	return m.withTx(func() string { return fmt.Sprintf("commit offsets of group %q", offs[0].Group) }, func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO group_offsets(group_id, topic, partition, offset, leader_epoch, metadata, commit_time)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(group_id, topic, partition) DO UPDATE SET offset = excluded.offset,
				leader_epoch = excluded.leader_epoch, metadata = excluded.metadata, commit_time = excluded.commit_time`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, o := range offs {
			if o.Group == "" || o.Topic == "" || o.Partition < 0 {
				return fmt.Errorf("%w: offset for group %q topic %q partition %d", ErrInvalid, o.Group, o.Topic, o.Partition)
			}
			if _, err := st.Exec(o.Group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, toNanos(o.CommitTime)); err != nil {
				return fmt.Errorf("group %q topic %q partition %d: %w", o.Group, o.Topic, o.Partition, err)
			}
		}
		return nil
	})
}

// GroupOffsets returns a group's committed offsets, ordered by topic then
// partition; none (and no error) for an unknown group.
func (m *Manifest) GroupOffsets(group string) ([]GroupOffset, error) {
	rows, err := m.db.Query(`SELECT topic, partition, offset, leader_epoch, metadata, commit_time
		FROM group_offsets WHERE group_id = ? ORDER BY topic, partition`, group)
	if err != nil {
		return nil, fmt.Errorf("manifest: offsets of group %q: %w", group, err)
	}
	defer rows.Close()
	var out []GroupOffset
	for rows.Next() {
		o := GroupOffset{Group: group}
		var at int64
		if err := rows.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &at); err != nil {
			return nil, fmt.Errorf("manifest: offsets of group %q: %w", group, err)
		}
		o.CommitTime = fromNanos(at)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("manifest: offsets of group %q: %w", group, err)
	}
	return out, nil
}

// DeleteGroupOffsets deletes a group's committed offsets: those of one
// partition, of all partitions of topic if partition is -1, or all of the
// group's if topic is "". Deleting what is not there is not an error.
func (m *Manifest) DeleteGroupOffsets(group string, topic string, partition int32) error {
	what := fmt.Sprintf("delete offsets of group %q topic %q partition %d", group, topic, partition)
	if group == "" || partition < -1 {
		return fmt.Errorf("manifest: %s: %w", what, ErrInvalid)
	}
	var err error
	switch {
	case topic == "":
		_, err = m.db.Exec(`DELETE FROM group_offsets WHERE group_id = ?`, group)
	case partition == -1:
		_, err = m.db.Exec(`DELETE FROM group_offsets WHERE group_id = ? AND topic = ?`, group, topic)
	default:
		_, err = m.db.Exec(`DELETE FROM group_offsets WHERE group_id = ? AND topic = ? AND partition = ?`, group, topic, partition)
	}
	if err != nil {
		return fmt.Errorf("manifest: %s: %w", what, err)
	}
	return nil
}

// Groups returns the groups that have committed offsets, ordered by name.
func (m *Manifest) Groups() ([]string, error) {
	rows, err := m.db.Query(`SELECT DISTINCT group_id FROM group_offsets ORDER BY group_id`)
	if err != nil {
		return nil, fmt.Errorf("manifest: list groups: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("manifest: list groups: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("manifest: list groups: %w", err)
	}
	return out, nil
}

// ProducerState is what an idempotent Kafka producer last wrote to one
// partition, used to detect duplicates and gaps after a restart.
type ProducerState struct {
	ProducerID   int64
	Epoch        int16
	PartitionID  int64
	LastSequence int32
	LastOffset   int64
	UpdatedAt    time.Time
}

// SaveProducerStates upserts producer states in one transaction. States of
// partitions that no longer exist are dropped.
func (m *Manifest) SaveProducerStates(states []ProducerState) error {
	if len(states) == 0 {
		return nil
	}
	return m.withTx(label("save producer states"), func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO producer_states(producer_id, partition_id, epoch, last_sequence, last_offset, updated_at)
			SELECT ?, id, ?, ?, ?, ? FROM partitions WHERE id = ?
			ON CONFLICT(producer_id, partition_id) DO UPDATE SET epoch = excluded.epoch,
				last_sequence = excluded.last_sequence, last_offset = excluded.last_offset, updated_at = excluded.updated_at`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, s := range states {
			if s.ProducerID < 0 {
				return fmt.Errorf("%w: producer id %d is negative", ErrInvalid, s.ProducerID)
			}
			if _, err := st.Exec(s.ProducerID, s.Epoch, s.LastSequence, s.LastOffset, toNanos(s.UpdatedAt), s.PartitionID); err != nil {
				return fmt.Errorf("producer %d partition %d: %w", s.ProducerID, s.PartitionID, err)
			}
		}
		return nil
	})
}

// ProducerStates returns every producer state, ordered by producer ID then
// partition ID.
func (m *Manifest) ProducerStates() ([]ProducerState, error) {
	rows, err := m.db.Query(`SELECT producer_id, epoch, partition_id, last_sequence, last_offset, updated_at
		FROM producer_states ORDER BY producer_id, partition_id`)
	if err != nil {
		return nil, fmt.Errorf("manifest: producer states: %w", err)
	}
	defer rows.Close()
	var out []ProducerState
	for rows.Next() {
		var s ProducerState
		var at int64
		if err := rows.Scan(&s.ProducerID, &s.Epoch, &s.PartitionID, &s.LastSequence, &s.LastOffset, &at); err != nil {
			return nil, fmt.Errorf("manifest: producer states: %w", err)
		}
		s.UpdatedAt = fromNanos(at)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("manifest: producer states: %w", err)
	}
	return out, nil
}

// DeleteProducerStates removes the producer states last updated before
// cutoff (producer-id expiry) and returns how many it removed.
func (m *Manifest) DeleteProducerStates(cutoff time.Time) (int64, error) {
	res, err := m.db.Exec(`DELETE FROM producer_states WHERE updated_at < ?`, toNanos(cutoff))
	if err != nil {
		return 0, fmt.Errorf("manifest: delete producer states before %v: %w", cutoff, err)
	}
	return res.RowsAffected()
}

// NextProducerID allocates a producer ID. IDs start at 1 and increase by
// one per call, across Close and Open: each is durable before it is
// returned, so none is ever handed out twice.
func (m *Manifest) NextProducerID() (int64, error) {
	var id int64
	err := m.db.QueryRow(`UPDATE meta SET value = value + 1 WHERE key = 'next_producer_id' RETURNING value - 1`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("manifest: next producer id: %w", err)
	}
	return id, nil
}

// GetMeta returns the value stored under key in the key/value table and
// whether there was one.
func (m *Manifest) GetMeta(key string) (string, bool, error) {
	var v string
	err := m.db.QueryRow(`SELECT value FROM kv WHERE key = ?`, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("manifest: get meta %q: %w", key, err)
	}
	return v, true, nil
}

// SetMeta stores value under key in the key/value table, replacing any
// previous value. The key must not be empty.
func (m *Manifest) SetMeta(key, value string) error {
	if key == "" {
		return fmt.Errorf("manifest: set meta: empty key: %w", ErrInvalid)
	}
	if _, err := m.db.Exec(`INSERT INTO kv(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("manifest: set meta %q: %w", key, err)
	}
	return nil
}
