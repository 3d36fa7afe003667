// Package batch reads, checks, builds and edits Kafka record batches,
// message format v2 ("magic 2"), millrace's unit of storage end to end.
//
// The bytes a Kafka producer sends are checked with [Validate], given their
// first offset with [SetBaseOffset], written to the log as they are, and
// later served to consumers as they are. Between those steps nothing decodes
// the records: apart from its fixed 61-byte header a batch is opaque.
// [Records] decodes the records for the APIs that need them (HTTP,
// embedded), and a [Builder] makes batches for producers that are not Kafka
// clients. [Next] splits a buffer of consecutive batches.
//
// # The header
//
// A batch is a 61-byte header followed by its records. Every header field is
// a fixed-size big-endian (network order) integer, at a fixed offset from
// the batch's first byte:
//
//	offset size type   field                 meaning
//	     0    8 int64  baseOffset            log offset of the first record; 0 from producers, set by the broker
//	     8    4 int32  batchLength           bytes after this field: total size - 12
//	    12    4 int32  partitionLeaderEpoch  leader epoch when appended; -1 from producers
//	    16    1 int8   magic                 message format version: 2
//	    17    4 uint32 crc                   CRC-32C (Castagnoli) of bytes 21 .. end
//	    21    2 int16  attributes            codec and flags, see below
//	    23    4 int32  lastOffsetDelta       last record's offset - baseOffset
//	    27    8 int64  baseTimestamp         first record's timestamp, ms since the Unix epoch
//	    35    8 int64  maxTimestamp          largest record timestamp, or the append time
//	    43    8 int64  producerId            idempotent/transactional producer, -1 if none
//	    51    2 int16  producerEpoch         that producer's epoch, -1 if none
//	    53    4 int32  baseSequence          first record's sequence number, -1 if none
//	    57    4 int32  recordCount           number of records
//	    61    …        records               recordCount records, compressed as a whole if the codec says so
//
// Drawn as bytes, with the span the CRC covers:
//
//	0       8       12      16 17      21  23      27
//	+-------+-------+-------+--+-------+---+-------+
//	|baseOff|batchLn|plEpoch|mg|  crc  |att|lastOD |
//	+-------+-------+-------+--+-------+---+-------+
//	27              35              43              51  53      57      61
//	+---------------+---------------+---------------+---+-------+-------+--------
//	| baseTimestamp | maxTimestamp  |  producerId   |pEp|baseSeq| count | records…
//	+---------------+---------------+---------------+---+-------+-------+--------
//	                            crc covers: from attributes (21) to the end
//
// The first 12 bytes, baseOffset and batchLength, are the "log overhead":
// they sit at the same place in every message format version, as does magic
// at 16, so a reader can step over a batch, and tell its version, before
// knowing anything else about it. A batch's total size is 12 + batchLength,
// and batchLength is at least 49 (61 - 12).
//
// The CRC is CRC-32C, the Castagnoli polynomial (0x1EDC6F41; the IEEE CRC-32
// belongs to the older formats), over everything from attributes to the end
// of the batch. baseOffset, batchLength and partitionLeaderEpoch lie before
// it, so a broker can assign offsets and stamp its epoch in place without
// recomputing it; batchLength is checked against the buffer instead.
//
// # Attributes
//
//	bits 0-2  compression codec of the records: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (5-7 unassigned)
//	bit  3    timestampType: 0 CreateTime (the producer's), 1 LogAppendTime (the broker's)
//	bit  4    transactional: the batch belongs to a transaction of producerId
//	bit  5    control: the batch holds a transaction marker, not user records
//	bit  6    delete horizon set (written by log compaction; ignored here)
//
// # Records
//
// Record i of a batch has offset baseOffset + offsetDelta (offsetDelta is i
// in a fresh batch, so lastOffsetDelta is recordCount-1; compaction may drop
// records but keeps the deltas) and, under CreateTime, timestamp
// baseTimestamp + timestampDelta. Under LogAppendTime every record's
// timestamp is maxTimestamp. A record's sequence number is baseSequence +
// offsetDelta.
//
// Inside a record every integer is a variable-length zigzag integer, as in
// protocol buffers' sint32/sint64: zigzag maps 0, -1, 1, -2, 2 … to 0, 1,
// 2, 3, 4 …, and the result is written 7 bits per byte, low bits first, the
// top bit of each byte set when more follow. A varint is an int32 (at most
// 5 bytes), a varlong an int64 (at most 10). A record is:
//
//	length           varint   bytes in the rest of this record
//	attributes       int8     unused, 0
//	timestampDelta   varlong  timestamp - baseTimestamp
//	offsetDelta      varint   offset - baseOffset
//	keyLength        varint   -1 for a null key
//	key              keyLength bytes
//	valueLength      varint   -1 for a null value
//	value            valueLength bytes
//	headerCount      varint
//	headers          headerCount times:
//	    headerKeyLength    varint (never -1: header keys are not nullable)
//	    headerKey          UTF-8 bytes
//	    headerValueLength  varint, -1 for a null value
//	    headerValue        bytes
//
// For example the record with key "k", value "hi", timestampDelta 0,
// offsetDelta 0 and no headers is 10 bytes:
//
//	12           length 9 (zigzag 18)
//	00           attributes
//	00           timestampDelta 0
//	00           offsetDelta 0
//	02 6b        keyLength 1, "k"
//	04 68 69     valueLength 2, "hi"
//	00           headerCount 0
//
// # Compression
//
// With a codec, the records (everything after byte 61) are compressed as one
// stream; the header stays plain and recordCount still counts the records
// inside. gzip is RFC 1952; zstd is a Zstandard frame (RFC 8878); lz4 is the
// LZ4 frame format (magic 04 22 4d 18); snappy is either one raw snappy
// block (librdkafka, franz-go) or the xerial framing of snappy-java, which
// the Java producer sends: the magic 82 'S' 'N' 'A' 'P' 'P' 'Y' 00, two
// big-endian int32 versions (1, 1), then blocks, each a big-endian int32
// length and a raw snappy block. Decoding accepts both; the Builder writes
// a raw block. Decompression is bounded ([DefaultMaxDecompressed]) so that
// a small malicious batch cannot exhaust memory.
//
// # Errors
//
// Functions that reject bytes return a [*ValidationError] that names the
// wire field at fault and the bad value, and wraps one of [ErrCorrupt],
// [ErrInvalid], [ErrTooLarge], [ErrUnsupported] or [ErrTruncated].
package batch
