package millrace

import (
	"errors"
	"fmt"

	"github.com/millrace/millrace/internal/batch"
)

// TopicByID returns the topic whose Kafka topic id is id, or an error
// matching ErrUnknownTopic. It asks the manifest (an indexed look-up), so
// callers on a hot path should cache the name and check it with TopicID.
func (l *Log) TopicByID(id [16]byte) (TopicInfo, error) {
	if err := l.checkOpen(); err != nil {
		return TopicInfo{}, err
	}
	mt, err := l.man.TopicByUUID(id)
	if err != nil {
		return TopicInfo{}, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	t := l.topics[mt.Name]
	if t == nil || t.meta.UUID != id {
		return TopicInfo{}, fmt.Errorf("millrace: topic id %x: %w", id, ErrUnknownTopic)
	}
	return topicInfo(t), nil
}

// TopicID returns a topic's Kafka topic id and partition count from memory,
// or an error matching ErrUnknownTopic.
func (l *Log) TopicID(name string) (id [16]byte, partitions int32, err error) {
	ti, err := l.Topic(name)
	return ti.ID, ti.Partitions, err
}

// AutoCreate reports whether appends (and Kafka metadata requests) create
// unknown topics: the opposite of Options.DisableAutoCreate.
func (l *Log) AutoCreate() bool { return !l.opts.DisableAutoCreate }

// TopicDefaults returns the partition count and configuration that
// auto-created topics get (Options.DefaultPartitions, Options.DefaultConfig).
func (l *Log) TopicDefaults() (partitions int32, cfg TopicConfig) {
	return l.opts.DefaultPartitions, *l.opts.DefaultConfig
}

// EnsureTopic returns the named topic, creating it with the defaults if it
// does not exist and auto-create is on; otherwise an unknown topic fails
// with ErrUnknownTopic.
func (l *Log) EnsureTopic(name string) (TopicInfo, error) {
	ti, err := l.Topic(name)
	if errors.Is(err, ErrUnknownTopic) && !l.opts.DisableAutoCreate {
		if err := l.createDefault(name); err != nil {
			return TopicInfo{}, err
		}
		return l.Topic(name)
	}
	return ti, err
}

// Topic returns a topic's description from memory (no per-partition
// state: see DescribeTopic for that), or an error matching
// ErrUnknownTopic.
func (l *Log) Topic(name string) (TopicInfo, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return TopicInfo{}, ErrClosed
	}
	t := l.topics[name]
	if t == nil {
		return TopicInfo{}, fmt.Errorf("millrace: topic %q: %w", name, ErrUnknownTopic)
	}
	return topicInfo(t), nil
}

// MaxTimestamp returns the offset and timestamp of the first record with
// the largest timestamp in a partition (Kafka's ListOffsets -3), or -1, -1
// for an empty partition. It finds the batch in the index and decodes
// that batch only.
func (l *Log) MaxTimestamp(topicName string, part int32) (offset, ts int64, err error) {
	p, _, err := l.lookup(topicName, part, false)
	if err != nil {
		return -1, -1, err
	}
	p.mu.RLock()
	empty := p.entries.len() == 0 || p.entries.lastOffset() < p.logStart
	maxTs := p.entries.lastMaxTimestamp()
	p.mu.RUnlock()
	if empty {
		return -1, -1, nil
	}
	e, found, logStart, _, err := l.entryAtTime(p, maxTs)
	if err != nil {
		return -1, -1, fmt.Errorf("millrace: max timestamp of %s/%d: %w", topicName, part, err)
	}
	if !found {
		return -1, -1, nil // trimmed meanwhile
	}
	payload, err := p.shard.cl().ReadEntry(e.seq, e.pos, e.size, nil)
	if err != nil {
		return -1, -1, fmt.Errorf("millrace: max timestamp of %s/%d: %w", topicName, part, err)
	}
	offset, ts = e.last, e.maxTs
	err = batch.Records(payload, func(r *batch.Record) error {
		if r.Timestamp == maxTs && r.Offset >= logStart {
			offset = r.Offset
			return errStopDecode
		}
		return nil
	})
	if err != nil && err != errStopDecode {
		return -1, -1, fmt.Errorf("millrace: max timestamp of %s/%d: %w", topicName, part, err)
	}
	return offset, ts, nil
}
