package millrace

import (
	"errors"
	"fmt"
	"slices"

	"github.com/millrace/millrace/internal/manifest"
)

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte // the Kafka topic id
	Partitions int32
	Config     TopicConfig
}

func topicInfo(t *topic) TopicInfo {
	return TopicInfo{Name: t.meta.Name, ID: t.meta.UUID, Partitions: int32(len(t.parts)), Config: t.meta.Config}
}

// CreateTopic creates a topic with the given number of partitions. A nil
// config takes Options.DefaultConfig.
func (l *Log) CreateTopic(name string, partitions int32, cfg *TopicConfig) (TopicInfo, error) {
	if cfg == nil {
		cfg = l.opts.DefaultConfig
	}
	l.creates.Lock()
	defer l.creates.Unlock()
	if err := l.checkOpen(); err != nil {
		return TopicInfo{}, err
	}
	mt, mps, err := l.man.CreateTopic(name, partitions, *cfg, l.shardFor(name))
	if err != nil {
		return TopicInfo{}, err
	}
	t := &topic{meta: mt}
	for _, mp := range mps {
		t.parts = append(t.parts, &partition{id: mp.ID, topic: t, index: mp.Index, shard: l.shards[mp.Shard]})
	}
	l.mu.Lock()
	l.topics[name] = t
	l.mu.Unlock()
	return topicInfo(t), nil
}

// DeleteTopic deletes a topic and its records. Its commit-log space is
// reclaimed as segments become unreferenced.
func (l *Log) DeleteTopic(name string) error {
	l.creates.Lock()
	defer l.creates.Unlock()
	if err := l.checkOpen(); err != nil {
		return err
	}
	if _, _, err := l.man.DeleteTopic(name); err != nil {
		return err
	}
	l.mu.Lock()
	t := l.topics[name]
	delete(l.topics, name)
	l.mu.Unlock()
	if t == nil {
		return nil
	}
	for _, p := range t.parts {
		p.appendMu.Lock()
		p.mu.Lock()
		p.deleted = true
		segs := p.segmentsLocked()
		p.entries = entryIndex{}
		p.wakeLocked()
		p.mu.Unlock()
		p.appendMu.Unlock()
		p.shard.forget(p.id)
		p.shard.release(segs)
	}
	return nil
}

// Topics lists the topics, by name.
func (l *Log) Topics() []TopicInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]TopicInfo, 0, len(l.topics))
	for _, t := range l.topics {
		out = append(out, topicInfo(t))
	}
	slices.SortFunc(out, func(a, b TopicInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// DescribeTopic returns a topic and the state of each of its partitions.
func (l *Log) DescribeTopic(name string) (TopicInfo, []PartitionInfo, error) {
	l.mu.RLock()
	t := l.topics[name]
	closed := l.closed
	var ti TopicInfo
	var parts []*partition
	if t != nil {
		ti, parts = topicInfo(t), t.parts
	}
	l.mu.RUnlock()
	switch {
	case closed:
		return TopicInfo{}, nil, ErrClosed
	case t == nil:
		return TopicInfo{}, nil, fmt.Errorf("millrace: topic %q: %w", name, ErrUnknownTopic)
	}
	infos := make([]PartitionInfo, len(parts))
	for i, p := range parts {
		infos[i] = p.info()
	}
	return ti, infos, nil
}

// AlterTopicConfig replaces a topic's configuration.
func (l *Log) AlterTopicConfig(name string, cfg TopicConfig) (TopicInfo, error) {
	l.creates.Lock()
	defer l.creates.Unlock()
	if err := l.checkOpen(); err != nil {
		return TopicInfo{}, err
	}
	mt, err := l.man.AlterConfig(name, cfg)
	if err != nil {
		return TopicInfo{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.topics[name]
	if old == nil {
		return TopicInfo{}, fmt.Errorf("millrace: alter %q: %w", name, ErrUnknownTopic)
	}
	old.meta = mt
	return topicInfo(old), nil
}

// AddPartitions raises a topic's partition count to count.
func (l *Log) AddPartitions(name string, count int32) (TopicInfo, error) {
	l.creates.Lock()
	defer l.creates.Unlock()
	if err := l.checkOpen(); err != nil {
		return TopicInfo{}, err
	}
	mps, err := l.man.AddPartitions(name, count, l.shardFor(name))
	if err != nil {
		return TopicInfo{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.topics[name]
	if t == nil {
		return TopicInfo{}, fmt.Errorf("millrace: add partitions to %q: %w", name, ErrUnknownTopic)
	}
	parts := slices.Clone(t.parts)
	for _, mp := range mps {
		parts = append(parts, &partition{id: mp.ID, topic: t, index: mp.Index, shard: l.shards[mp.Shard]})
	}
	t.parts = parts
	t.meta.Partitions = int32(len(parts))
	return topicInfo(t), nil
}

func (l *Log) checkOpen() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// lookup finds a partition and its topic's config; with create, an unknown
// topic is created with the default partition count and config (if
// auto-create is on).
func (l *Log) lookup(name string, index int32, create bool) (*partition, TopicConfig, error) {
	l.mu.RLock()
	t := l.topics[name]
	closed := l.closed
	var p *partition
	var cfg TopicConfig
	if t != nil && index >= 0 && int(index) < len(t.parts) {
		p, cfg = t.parts[index], t.meta.Config
	}
	l.mu.RUnlock()
	if closed {
		return nil, cfg, ErrClosed
	}
	if p != nil {
		return p, cfg, nil
	}
	if t == nil {
		if !create || l.opts.DisableAutoCreate {
			return nil, cfg, fmt.Errorf("millrace: topic %q: %w", name, ErrUnknownTopic)
		}
		if err := l.createDefault(name); err != nil {
			return nil, cfg, err
		}
		return l.lookup(name, index, false)
	}
	return nil, cfg, fmt.Errorf("millrace: topic %q has %d partitions, no partition %d: %w", name, len(t.parts), index, ErrUnknownPartition)
}

// createDefault creates a topic with the auto-create defaults; a topic
// created meanwhile by someone else is fine.
func (l *Log) createDefault(name string) error {
	if _, err := l.CreateTopic(name, l.opts.DefaultPartitions, nil); err != nil && !errors.Is(err, manifest.ErrTopicExists) {
		return err
	}
	return nil
}

// Partitions returns the partition count of a topic.
func (l *Log) Partitions(name string) (int32, error) {
	ti, err := l.Topic(name)
	return ti.Partitions, err
}
