package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetForLeaderEpoch answers log-truncation checks. A single node
// has only ever had leader epoch 0, so epoch 0 (or an unknown, negative
// one) ends at the high watermark, and a later epoch is undefined.
func handleOffsetForLeaderEpoch(s *Server, r *request) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LeaderEpoch, rp.EndOffset = -1, -1
			_, high, _, err := s.log.Watermarks(t.Topic, p.Partition)
			switch {
			case err != nil:
				rp.ErrorCode = errorCode(err)
			case !leaderEpochOK(p.CurrentLeaderEpoch):
				rp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case p.LeaderEpoch <= 0:
				rp.LeaderEpoch, rp.EndOffset = 0, high
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}
