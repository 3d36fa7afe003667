package millrace

// Stats is a point-in-time snapshot of a Log's size and load, read from
// state the Log keeps anyway: taking one costs a pass over the topics and a
// look at each shard, no I/O. It is meant for metrics and status pages.
type Stats struct {
	Topics     int          // topics that exist
	Partitions int          // partitions of all topics
	Shards     []ShardStats // one per shard, by shard id
}

// ShardStats describes one shard's commit log.
type ShardStats struct {
	Shard int32
	// Segments is the number of commit-log segment files, the active one
	// included; SegmentBytes the bytes of entries in them.
	Segments     int
	SegmentBytes int64
	// PendingBytes is data accepted but not yet persisted: the memory load
	// shedding bounds with Options.MaxPendingBytes.
	PendingBytes int64
	// Failed is set once a write or fsync failed: the shard refuses appends
	// until the Log is reopened.
	Failed bool
}

// Stats returns a snapshot of the Log's topics, partitions and shards. On
// a closed Log it returns the zero Stats.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Stats{}
	}
	st := Stats{Topics: len(l.topics)}
	for _, t := range l.topics {
		st.Partitions += len(t.parts)
	}
	l.mu.RUnlock()
	st.Shards = make([]ShardStats, 0, len(l.shards))
	for _, s := range l.shards {
		ss := ShardStats{Shard: s.id, PendingBytes: s.cl().PendingBytes(), Failed: s.cl().Err() != nil}
		for _, seg := range s.cl().Segments() {
			ss.Segments++
			ss.SegmentBytes += seg.Size
		}
		st.Shards = append(st.Shards, ss)
	}
	return st
}
