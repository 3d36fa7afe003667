package kafka

import (
	"encoding/binary"
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch response is mostly record batches read from the log. Encoding it
// whole (kmsg's AppendTo) copies every batch into one frame buffer: on a
// catch-up read that was the server's largest CPU cost, and a copy of tens
// of megabytes cannot be preempted, so the garbage collector spun waiting
// for it. fetchFrame encodes everything but the batches, and the writer
// sends the frame as a vector of the encoded pieces and the batches where
// they lie (writev).

// minSpliceBytes is the record bytes a Fetch response needs before its
// batches are sent in place rather than copied: below it, one buffer and
// one write are cheaper.
const minSpliceBytes = 64 << 10

// splice is a record-batch slice to be sent at offset at of the encoded
// frame.
type splice struct {
	at   int
	data []byte
}

// spliceable reports whether fetchFrame can encode resp exactly as kmsg
// would: the versions served (4 to 13), no tagged fields set, and enough
// record bytes to be worth it.
func spliceable(resp *kmsg.FetchResponse) bool {
	if resp.Version < 4 || resp.Version > 13 || resp.UnknownTags.Len() > 0 || len(resp.Brokers) > 0 {
		return false
	}
	n := 0
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.UnknownTags.Len() > 0 || p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 ||
				p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 {
				return false
			}
			for k := range p.AbortedTransactions {
				if p.AbortedTransactions[k].UnknownTags.Len() > 0 {
					return false
				}
			}
			n += len(p.RecordBatches)
		}
	}
	return n >= minSpliceBytes
}

// fetchFrame appends to dst the frame of a spliceable Fetch response, as
// appendResponse would, but with each partition's record batches left out
// and listed in splices, in order, with where they belong. The frame's
// size prefix counts them.
func fetchFrame(dst []byte, corr int32, resp *kmsg.FetchResponse, splices []splice) ([]byte, []splice) {
	flex := resp.Version >= 12
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, corr)
	if flex {
		dst = append(dst, 0) // the response header's tags
	}
	dst = kbin.AppendInt32(dst, resp.ThrottleMillis)
	if resp.Version >= 7 {
		dst = kbin.AppendInt16(dst, resp.ErrorCode)
		dst = kbin.AppendInt32(dst, resp.SessionID)
	}
	dst = appendLen(dst, len(resp.Topics), flex)
	spliced := 0
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if resp.Version <= 12 {
			if flex {
				dst = kbin.AppendCompactString(dst, t.Topic)
			} else {
				dst = kbin.AppendString(dst, t.Topic)
			}
		} else {
			dst = append(dst, t.TopicID[:]...)
		}
		dst = appendLen(dst, len(t.Partitions), flex)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			dst = kbin.AppendInt64(dst, p.LastStableOffset)
			if resp.Version >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			dst = appendNullableLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil, flex)
			for _, a := range p.AbortedTransactions {
				dst = kbin.AppendInt64(dst, a.ProducerID)
				dst = kbin.AppendInt64(dst, a.FirstOffset)
				if flex {
					dst = append(dst, 0)
				}
			}
			if resp.Version >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			dst = appendNullableLen(dst, len(p.RecordBatches), p.RecordBatches == nil, flex)
			if len(p.RecordBatches) > 0 {
				splices = append(splices, splice{at: len(dst), data: p.RecordBatches})
				spliced += len(p.RecordBatches)
			}
			if flex {
				dst = append(dst, 0) // the partition's tags
			}
		}
		if flex {
			dst = append(dst, 0) // the topic's tags
		}
	}
	if flex {
		dst = append(dst, 0) // the response's tags
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4+spliced))
	return dst, splices
}

// appendLen appends an array length, compact (length+1, unsigned varint)
// in flexible versions.
func appendLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return kbin.AppendUvarint(dst, uint32(n+1))
	}
	return kbin.AppendInt32(dst, int32(n))
}

// appendNullableLen appends the length of a nullable array or byte
// string: -1 (compact: 0) for null.
func appendNullableLen(dst []byte, n int, null, flex bool) []byte {
	switch {
	case null && flex:
		return kbin.AppendUvarint(dst, 0)
	case null:
		return kbin.AppendInt32(dst, -1)
	}
	return appendLen(dst, n, flex)
}

// frameVector returns the pieces of an encoded frame with its splices in
// place, in order, for one vectored write.
func frameVector(frame []byte, splices []splice, vec net.Buffers) net.Buffers {
	last := 0
	for _, s := range splices {
		vec = append(vec, frame[last:s.at], s.data)
		last = s.at
	}
	return append(vec, frame[last:])
}
