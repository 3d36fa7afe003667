// Package producer decides, without I/O, whether a batch from a Kafka
// idempotent producer is new, a duplicate of one already stored, or out of
// order.
//
// A producer has an id and an epoch, and numbers its batches per partition
// with a sequence that counts records: a batch of n records with base
// sequence s is followed by one with base sequence s+n (wrapping from
// MaxInt32 to 0). The broker keeps, per partition and producer, the epoch
// and the last five batches (as Kafka does, since a producer has at most
// five requests in flight); a retried batch that matches one of them is a
// duplicate and is answered with the offsets it got the first time.
//
// The table is rebuilt on restart by replaying the stored batches in log
// order (their headers carry producer id, epoch and base sequence), so it
// needs no storage of its own.
package producer

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by Check.
var (
	// ErrOutOfOrderSequence: the batch's sequence is not the next one.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidEpoch: the batch's epoch is older than the producer's
	// current one (the producer was fenced).
	ErrInvalidEpoch = errors.New("invalid producer epoch")
)

// window is how many recent batches per producer are remembered.
const window = 5

// stored is one remembered batch.
type stored struct {
	firstSeq, lastSeq int32
	base, last        int64
}

// state is one producer's state in one partition.
type state struct {
	epoch   int16
	batches [window]stored
	n       int // batches remembered, up to window
	head    int // index of the newest
}

// Table is the producer state of one partition. The zero value is empty
// and ready; it is not safe for concurrent use (the partition's append lock
// guards it).
type Table struct {
	m map[int64]*state
}

// Decision is what Check found.
type Decision struct {
	// Duplicate is true if the batch was stored before; Base and Last are
	// then its offsets.
	Duplicate  bool
	Base, Last int64
}

// lastSeq returns the sequence of the last record of a batch.
func lastSeq(first int32, count int32) int32 {
	return int32((int64(first) + int64(count) - 1) % (math.MaxInt32 + 1))
}

// nextSeq returns the sequence expected after last.
func nextSeq(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}

// Check decides about a batch of count records from producer pid at epoch
// with base sequence firstSeq. A producer the table does not know is
// accepted whatever its sequence (its state may have gone with retention).
func (t *Table) Check(pid int64, epoch int16, firstSeq, count int32) (Decision, error) {
	s := t.m[pid]
	if s == nil {
		return Decision{}, nil
	}
	switch {
	case epoch < s.epoch:
		return Decision{}, fmt.Errorf("%w: producer %d epoch %d is older than its current epoch %d", ErrInvalidEpoch, pid, epoch, s.epoch)
	case epoch > s.epoch:
		if firstSeq != 0 {
			return Decision{}, fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, not 0", ErrOutOfOrderSequence, pid, epoch, firstSeq)
		}
		return Decision{}, nil
	}
	last := lastSeq(firstSeq, count)
	for i := 0; i < s.n; i++ {
		b := s.batches[i]
		if b.firstSeq == firstSeq && b.lastSeq == last {
			return Decision{Duplicate: true, Base: b.base, Last: b.last}, nil
		}
	}
	if want := nextSeq(s.batches[s.head].lastSeq); firstSeq != want {
		return Decision{}, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", ErrOutOfOrderSequence, pid, epoch, firstSeq, want)
	}
	return Decision{}, nil
}

// Record remembers a stored batch. A newer epoch resets the producer.
func (t *Table) Record(pid int64, epoch int16, firstSeq, count int32, base int64) {
	if t.m == nil {
		t.m = make(map[int64]*state)
	}
	s := t.m[pid]
	if s == nil || epoch > s.epoch {
		s = &state{epoch: epoch, head: window - 1}
		t.m[pid] = s
	}
	s.head = (s.head + 1) % window
	s.batches[s.head] = stored{firstSeq: firstSeq, lastSeq: lastSeq(firstSeq, count), base: base, last: base + int64(count) - 1}
	if s.n < window {
		s.n++
	}
}

// Len returns the number of producers known.
func (t *Table) Len() int { return len(t.m) }
