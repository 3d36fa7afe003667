package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteRecords moves log start offsets forward (Log.Truncate);
// offset -1 means the high watermark.
func handleDeleteRecords(s *Server, r *request) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.LowWatermark = p.Partition, -1
			off := p.Offset
			if off == -1 {
				_, high, _, err := s.log.Watermarks(t.Topic, p.Partition)
				if err != nil {
					rp.ErrorCode = errorCode(err)
					rt.Partitions = append(rt.Partitions, rp)
					continue
				}
				off = high
			}
			low, err := s.log.Truncate(t.Topic, p.Partition, off)
			if err != nil {
				rp.ErrorCode = errorCode(err)
			} else {
				rp.LowWatermark = low
				s.logger.Info("kafka: deleted records", "topic", t.Topic, "partition", p.Partition, "before", low, "remote", r.c.remote)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}
