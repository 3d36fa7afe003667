// Package millrace is the embedded API of millrace, a durable log and event
// server: open a directory, create topics, append records, read them back by
// offset or by time, follow the tail, truncate, close. The millrace server
// (cmd/millrace) is this package behind an HTTP API and the Kafka protocol.
//
// # Model
//
// A topic has partitions; every record appended to a partition gets the next
// dense offset, starting at 0. Records are stored in Kafka RecordBatch v2
// form (package internal/batch), exactly as a Kafka producer sent them.
//
// # How an append flows
//
// Partitions are grouped into shards; each shard has one commit log
// (internal/commitlog) that interleaves the batches of all its partitions.
// Append validates the batch, takes the partition's append lock, stamps the
// next offset into the batch, hands the batch to the shard's commit log
// (which copies it into its group-commit buffer), records the batch's place
// in the partition's in-memory index, and releases the lock. With
// AckDurable (the default) it then waits for the fsync that covers the
// batch: one fsync serves every waiting append of every partition of the
// shard. With AckMemory it returns at once.
//
// Each partition has two watermarks: the high watermark (the next offset to
// be assigned: everything below it is readable) and the durable watermark
// (everything below it is fsynced). Readers choose which to read up to.
//
// # Metadata
//
// Topics, partitions, configs, log start offsets and the offset and time
// span of every partition in every sealed commit-log segment live in a
// SQLite manifest (internal/manifest), committed when a segment is sealed or
// a config changes, never per record. On open, the commit logs are replayed
// to rebuild the indexes and reconciled with the manifest.
//
// # Retention
//
// A background goroutine enforces each topic's retention.bytes and
// retention.ms by whole segment spans, advancing partitions' log start
// offsets; a commit-log segment file is deleted once no partition has a
// record left in it (mrecordlog's rule). Truncate moves a log start offset
// explicitly (Kafka's DeleteRecords).
//
// # Load shedding
//
// Memory for data not yet persisted is bounded per shard. At the bound an
// append fails at once with an error matching ErrOverloaded; RetryAfter
// extracts the hint.
package millrace
