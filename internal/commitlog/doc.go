// Package commitlog is a shard's write-ahead log: one ordered sequence of
// segment files into which the batches of every partition of the shard are
// appended, made durable together by group commit.
//
// # Why one log per shard
//
// A partition does not own files. All partitions of a shard append to the
// same log, so a server with 10,000 partitions and one shard has one active
// file and issues one fdatasync per group commit, however many partitions
// wrote (mrecordlog's multiplexing). Every entry carries the stream (the
// partition's global id) it belongs to; the caller keeps the per-partition
// indexes that find an entry again by (segment, position).
//
// # Entries
//
// Each entry is framed as follows; all integers are little-endian:
//
//	+---------+---------+---------+---------+---------+-----------------+
//	| length  | crc     | term    | index   | stream  | payload ...     |
//	| uint32  | uint32  | uint64  | uint64  | uint64  | length-24 bytes |
//	+---------+---------+---------+---------+---------+-----------------+
//	0         4         8         16        24        32
//
// length counts the bytes after the crc field (term, index, stream and the
// payload), so a whole entry is 8+length bytes. crc is CRC-32C (Castagnoli)
// of the payload followed by the 24 bytes of term, index and stream: payload
// first, so that its part of the checksum is computed before the append
// takes the log's lock. index is the entry's position in the shard's
// log, starting at 1 and increasing by exactly 1 from entry to entry across
// segments; term is the Raft term that wrote it (1 on a single node). With
// (term, index) in every entry the log can become the shard's Raft log later
// without a format change.
//
// # Segments
//
// A segment is a file named by its sequence number, %020d.log, in the
// shard's directory. Appends grow the active segment, or, unless
// Options.NoPreallocate, it is preallocated to the segment size and reads
// as zeros past its last entry; a length of zero therefore marks the clean
// end. When the active
// segment would exceed the segment size, is older than the segment age, or
// the caller asks, it is sealed: synced, cut to its exact size, synced again,
// and reported through Options.OnSeal. A sealed segment never changes again.
//
// # Group commit
//
// Append copies the framed entry into an in-memory chunk and returns at once
// with the entry's place in the log; a single flusher goroutine, owned by the
// Log and stopped by Close, writes whole chunks with one write each and then,
// under the `always` policy, issues one fdatasync for everything it wrote.
// Every append that was waiting is durable after that one call; a waiter
// either blocks on its entry (Appended.Wait, Done) or registers a function
// the flusher calls as it completes the group commit (Appended.OnDone),
// which spares the wake-up of a goroutine parked for it. Under
// `interval` the flusher syncs on a timer; under `never` it never syncs (the
// operating system writes back when it likes, and a crash may lose what it
// had not).
//
// Two more goroutines serve the flusher, both owned by the Log and
// stopped by Close: the index writer, which writes each sealed segment's
// index file (segindex.go), and, with Options.DropSealedCache, the dropper,
// which drops the page cache one segment behind the flusher's writes
// (dropcache.go).
//
// Memory for entries not yet written and synced is bounded by
// Options.MaxPendingBytes: at the bound Append fails at once with an error
// that matches ErrOverloaded and carries a retry-after hint. There is no
// unbounded queue.
//
// # Recovery
//
// Open recovers the segments in order and hands every valid entry to the
// caller's replay function. A sealed segment whose index file it can trust
// (Options.IndexPrefix; segindex.go) is replayed from that file, with each
// payload cut to its first IndexPrefix bytes, and not read. Any other
// segment is scanned: each entry's frame, CRC and index continuity is
// checked. Entry indexes continue from one segment to the next, or skip
// forward where segment numbers skip (retention deleted the segments
// between). At the first entry that fails a check the log is cut: the
// segment is truncated at the last whole entry, and any later segment
// files (which can only exist after media corruption, since a segment is
// synced before the next one is written) are renamed aside with a .corrupt
// suffix, never deleted. The Report says what was cut. A corrupt byte is
// never served: reads check the entry CRC too, which is how damage to a
// segment replayed from its index file is found.
//
// # Failures
//
// If a write or an fsync fails, the data it covered may not be on disk and
// may no longer be in the page cache either ("fsyncgate"), so the log does
// not retry the fsync and trust it: every waiting append fails with the
// error, and the log refuses further appends until it is reopened, which
// recovers the active segment from what is actually on disk.
package commitlog
