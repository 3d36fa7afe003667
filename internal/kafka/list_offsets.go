package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// Special ListOffsets timestamps.
const (
	listLatest       = -1 // the high watermark (durable watermark for read_committed)
	listEarliest     = -2 // the log start offset
	listMaxTimestamp = -3 // the record with the largest timestamp (v7+)
)

// handleListOffsets answers offset look-ups: latest, earliest, max
// timestamp, or the first record at or after a timestamp (through the
// log's time index).
func handleListOffsets(s *Server, r *request) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	committed := req.IsolationLevel == isolationReadCommitted
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			if !leaderEpochOK(p.CurrentLeaderEpoch) {
				rp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			} else if off, ts, err := s.listOffset(t.Topic, p.Partition, p.Timestamp, committed); err != nil {
				rp.ErrorCode = errorCode(err)
			} else {
				rp.Offset, rp.Timestamp, rp.LeaderEpoch = off, ts, 0
				if r.version == 0 {
					rp.OldStyleOffsets = []int64{off}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}

// listOffset resolves one ListOffsets query to an offset and the
// timestamp Kafka reports with it (-1 where it reports none). A timestamp
// later than every record gives offset -1, as in Kafka.
func (s *Server) listOffset(topic string, part int32, ts int64, committed bool) (int64, int64, error) {
	start, high, durable, err := s.log.Watermarks(topic, part)
	if err != nil {
		return 0, 0, err
	}
	end := high
	if committed {
		end = durable
	}
	switch {
	case ts == listLatest:
		return end, -1, nil
	case ts == listEarliest:
		return start, -1, nil
	case ts == listMaxTimestamp:
		off, mts, err := s.log.MaxTimestamp(topic, part)
		if err != nil || off >= end {
			return -1, -1, err
		}
		return off, mts, nil
	case ts < 0:
		return 0, 0, protoErrf(kerr.InvalidRequest, "list offsets of %s/%d: unknown special timestamp %d", topic, part, ts)
	}
	off, err := s.log.OffsetForTime(topic, part, time.UnixMilli(ts))
	if err != nil {
		return 0, 0, err
	}
	if off >= end {
		return -1, -1, nil
	}
	recs, _, err := s.log.Read(topic, part, off, millrace.ReadOptions{MaxRecords: 1, DurableOnly: committed})
	if err != nil || len(recs) == 0 {
		return off, -1, err
	}
	return off, recs[0].Timestamp.UnixMilli(), nil
}
