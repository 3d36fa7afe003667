package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// maxOffsetMetadata bounds a committed offset's metadata string, as
// Kafka's offset.metadata.max.bytes does by default.
const maxOffsetMetadata = 4096

// handleOffsetCommit checks the commit against the group (member,
// generation), then stores the offsets in the manifest in one durable
// transaction. It runs on the connection's reader goroutine so that
// pipelined commits are applied in the order they were sent.
func handleOffsetCommit(s *Server, r *request) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	code := int16(0)
	if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else if !s.coord.do(func(now time.Time) {
		g := s.coord.group(req.Group, true)
		code = g.commitCheck(now, req.Generation, req.MemberID, req.InstanceID)
		s.coord.after(g)
	}) {
		code = kerr.NotCoordinator.Code
	}
	now := time.Now()
	var offs []millrace.GroupOffset
	var stored []*kmsg.OffsetCommitResponseTopicPartition
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for ti, t := range req.Topics {
		rt := &resp.Topics[ti]
		rt.Default()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		_, parts, err := s.log.TopicID(t.Topic)
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		for pi, p := range t.Partitions {
			rp := &rt.Partitions[pi]
			rp.Default()
			rp.Partition = p.Partition
			switch {
			case code != 0:
				rp.ErrorCode = code
			case err != nil || p.Partition < 0 || p.Partition >= parts:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > maxOffsetMetadata:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				o := millrace.GroupOffset{Group: req.Group, Topic: t.Topic, Partition: p.Partition, Offset: p.Offset,
					LeaderEpoch: p.LeaderEpoch, CommitTime: now}
				if r.version < 6 {
					o.LeaderEpoch = -1
				}
				if p.Metadata != nil {
					o.Metadata = *p.Metadata
				}
				offs = append(offs, o)
				stored = append(stored, rp)
			}
		}
	}
	if err := s.log.CommitGroupOffsets(offs); err != nil {
		s.logger.Error("kafka: storing committed offsets failed", "group", req.Group, "partitions", len(offs), "err", err)
		for _, rp := range stored {
			rp.ErrorCode = kerr.CoordinatorNotAvailable.Code // retriable
		}
	}
	r.respond(resp)
}
