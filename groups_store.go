package millrace

import (
	"fmt"

	"github.com/millrace/millrace/internal/manifest"
)

// GroupOffset is the offset a consumer group committed for one partition,
// addressed by topic name and partition index as in Kafka. LeaderEpoch is
// -1 when unknown.
type GroupOffset = manifest.GroupOffset

// CommitGroupOffsets stores consumer-group offsets durably, in one manifest
// transaction: when it returns nil they survive a crash. Whether the topics
// and partitions exist is the caller's concern.
func (l *Log) CommitGroupOffsets(offs []GroupOffset) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	if err := l.man.CommitOffsets(offs); err != nil {
		return fmt.Errorf("millrace: commit group offsets: %w", err)
	}
	return nil
}

// GroupOffsets returns a group's committed offsets, ordered by topic then
// partition; none, and no error, for a group that never committed.
func (l *Log) GroupOffsets(group string) ([]GroupOffset, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	return l.man.GroupOffsets(group)
}

// DeleteGroupOffsets deletes a group's committed offsets: those of one
// partition, of every partition of topic if partition is -1, or all of the
// group's if topic is "".
func (l *Log) DeleteGroupOffsets(group, topic string, partition int32) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	return l.man.DeleteGroupOffsets(group, topic, partition)
}

// Groups lists the groups that have committed offsets, by name.
func (l *Log) Groups() ([]string, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	return l.man.Groups()
}

// NextProducerID allocates an idempotent-producer id. It is durable before
// it is returned, so no id is handed out twice, across restarts too.
func (l *Log) NextProducerID() (int64, error) {
	if err := l.checkOpen(); err != nil {
		return 0, err
	}
	return l.man.NextProducerID()
}

// GetMeta returns the value stored under key in the manifest's key/value
// table, and whether there was one. Components keep small durable settings
// there (the Kafka cluster id, for one).
func (l *Log) GetMeta(key string) (string, bool, error) {
	if err := l.checkOpen(); err != nil {
		return "", false, err
	}
	return l.man.GetMeta(key)
}

// SetMeta durably stores value under key in the manifest's key/value table.
func (l *Log) SetMeta(key, value string) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	return l.man.SetMeta(key, value)
}
