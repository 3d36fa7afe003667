// Package manifest is millrace's metadata store: one SQLite database (pure
// Go, modernc.org/sqlite) that records what exists and where it lives, but
// none of the record data itself.
//
// # What is stored
//
// Records live in commit-log files elsewhere. Each shard has one commit log,
// made of numbered files called segments; a segment interleaves batches of
// many partitions. The manifest records, for every sealed segment, one span
// per partition it holds: the partition's offset and timestamp range inside
// that segment. With the spans a reader finds which segments to open for an
// offset, and retention finds which segments can go.
//
// Besides that it holds the topics and their configs, the partitions (with
// the shard each is written to, its log start offset and the next-offset
// floor recorded at the last seal), consumer-group committed offsets, the
// state of idempotent Kafka producers, a producer-id counter and a small
// key/value table for other components.
//
// # Schema (version 1)
//
//	meta            key TEXT PK, value           -- schema_version, next_producer_id
//	topics          id INTEGER PK AUTOINCREMENT, name TEXT UNIQUE,
//	                uuid BLOB(16) UNIQUE, partitions, retention_bytes,
//	                retention_ms, segment_bytes, max_message_bytes, created_at
//	topic_configs   (topic_id → topics, key) PK, value   -- TopicConfig.Extra
//	partitions      id INTEGER PK AUTOINCREMENT, topic_id → topics,
//	                idx, shard, log_start_offset, next_offset,
//	                UNIQUE (topic_id, idx)
//	segments        (shard, seq) PK, sealed, created_at, sealed_at, bytes,
//	                first_index, last_index
//	spans           (shard, seq → segments, partition_id → partitions) PK,
//	                first_offset, last_offset, first_ts, max_ts, bytes,
//	                records, batches;  INDEX (partition_id, first_offset)
//	group_offsets   (group_id, topic, partition) PK, offset, leader_epoch,
//	                metadata, commit_time;  INDEX (topic)
//	producer_states (producer_id, partition_id → partitions) PK, epoch,
//	                last_sequence, last_offset, updated_at;  INDEX (partition_id)
//	kv              key TEXT PK, value TEXT          -- GetMeta / SetMeta
//
// Every arrow is a foreign key with ON DELETE CASCADE. Times are stored as
// Unix nanoseconds (0 for the zero time). Unsigned 64-bit values (segment
// first/last index) are stored as their int64 bit pattern; segment sequence
// numbers must fit in an int64 so that they sort.
//
// The schema is versioned: meta.schema_version says how many migrations
// have been applied, and Open applies the missing ones in one transaction.
// The file is also tagged with PRAGMA application_id, so Open refuses a
// SQLite database that belongs to something else (ErrCorrupt), as well as a
// file that is not SQLite at all.
//
// # Invariants
//
//   - Topic names are unique and valid Kafka names (ValidateTopicName); a
//     topic's UUID is random, never zero, and unique.
//   - A topic with N partitions has exactly the partition rows 0..N-1, and N
//     only grows (AddPartitions).
//   - Partition IDs are global and never reused, even after DeleteTopic, so a
//     span or producer state can never be attributed to a later partition.
//   - log_start_offset and next_offset never decrease.
//   - A span exists only for an existing segment and an existing partition;
//     deleting either deletes the span. Deleting a topic deletes its
//     partitions, their spans and producer states, its configs and every
//     group offset committed for its name. Segments belong to shards, not
//     topics, and stay.
//   - A sealed segment's row and its spans, and the partitions' next offsets,
//     are written together by SealSegment or not at all.
//
// # When it commits
//
// The manifest is written per segment roll (AddSegment, SealSegment,
// DeleteSegment, SetLogStartOffsets), per topic or config change, per group
// offset commit and per producer-state checkpoint: never per record. Every
// API call is one transaction. The database runs in WAL mode with
// synchronous=FULL, so a call that returned nil is durable.
//
// A Manifest is safe for concurrent use; it holds a single connection, so
// calls are serialized.
package manifest
