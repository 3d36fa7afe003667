package millrace

import (
	"errors"
	"time"

	"github.com/millrace/millrace/internal/batch"
	"github.com/millrace/millrace/internal/commitlog"
	"github.com/millrace/millrace/internal/manifest"
	"github.com/millrace/millrace/internal/producer"
)

// Errors callers branch on with errors.Is.
var (
	// ErrUnknownTopic: the topic does not exist (and was not auto-created).
	ErrUnknownTopic = manifest.ErrUnknownTopic
	// ErrTopicExists: CreateTopic of a name already taken.
	ErrTopicExists = manifest.ErrTopicExists
	// ErrInvalid: a bad argument (topic name, config, partition count).
	ErrInvalid = manifest.ErrInvalid
	// ErrUnknownPartition: the topic has no such partition.
	ErrUnknownPartition = errors.New("millrace: unknown partition")
	// ErrOffsetOutOfRange: a read below the log start offset or above the
	// high watermark.
	ErrOffsetOutOfRange = errors.New("millrace: offset out of range")
	// ErrOffsetMismatch: an append's ExpectedOffset is not the partition's
	// next offset.
	ErrOffsetMismatch = errors.New("millrace: offset mismatch")
	// ErrOverloaded: the shard's memory for unpersisted data is full; retry
	// after RetryAfter(err).
	ErrOverloaded = commitlog.ErrOverloaded
	// ErrCorruptBatch: a batch failed validation (CRC, lengths, fields).
	ErrCorruptBatch = batch.ErrCorrupt
	// ErrInvalidBatch: a batch is well formed but not acceptable.
	ErrInvalidBatch = batch.ErrInvalid
	// ErrTooLarge: a batch exceeds the topic's max.message.bytes.
	ErrTooLarge = batch.ErrTooLarge
	// ErrClosed: the Log is closed.
	ErrClosed = errors.New("millrace: log closed")
	// ErrOutOfOrderSequence: an idempotent producer's batch does not carry
	// the next sequence number.
	ErrOutOfOrderSequence = producer.ErrOutOfOrderSequence
	// ErrInvalidProducerEpoch: an idempotent producer's batch carries an
	// epoch older than the producer's current one (it was fenced).
	ErrInvalidProducerEpoch = producer.ErrInvalidEpoch
	// ErrStorage: the commit log could not persist data (a failed write or
	// fsync); nothing it covered was acknowledged.
	ErrStorage = errors.New("millrace: storage failure")
)

// RetryAfter returns the retry-after hint of an ErrOverloaded error, or 0.
func RetryAfter(err error) time.Duration {
	var oe *commitlog.OverloadError
	if errors.As(err, &oe) {
		return oe.RetryAfter
	}
	return 0
}
