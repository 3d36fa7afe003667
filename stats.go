package millrace

// Stats is a point-in-time snapshot of a Log's size and load, read from
// state the Log keeps anyway: taking one costs a pass over the topics and a
// look at each shard and partition, no I/O. It is meant for metrics and
// status pages.
type Stats struct {
	Topics     int          // topics that exist
	Partitions int          // partitions of all topics
	Shards     []ShardStats // one per shard, by shard id
	// IndexBatches is the stored batches the partitions' indexes locate;
	// IndexBatchesInMemory those whose entries are held in memory (the
	// rest are in sealed segments' index files: see
	// Options.IndexCacheBytes).
	IndexBatches, IndexBatchesInMemory int64
	// IndexCacheBytes is the memory held by sealed segments' entries read
	// back for reads of older data; IndexCacheLoads counts the segments
	// read back since Open.
	IndexCacheBytes, IndexCacheLoads int64
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
	var parts []*partition
	for _, t := range l.topics {
		st.Partitions += len(t.parts)
		parts = append(parts, t.parts...)
	}
	l.mu.RUnlock()
	for _, p := range parts {
		p.mu.RLock()
		st.IndexBatches += int64(p.entries.len())
		st.IndexBatchesInMemory += int64(p.entries.hotLen())
		p.mu.RUnlock()
	}
	st.IndexCacheBytes, _ = l.cold.held()
	st.IndexCacheLoads = l.cold.loads.Load()
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
