package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetDelete deletes a group's committed offsets for some
// partitions, unless the group has live members subscribed to the topic
// (GROUP_SUBSCRIBED_TO_TOPIC) or has live members of a protocol other
// than "consumer", whose subscriptions cannot be read (NON_EMPTY_GROUP).
func handleOffsetDelete(s *Server, r *request) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	var subscribed map[string]bool
	live := false
	ok := s.coord.do(func(time.Time) {
		if g := s.coord.group(req.Group, false); g != nil && !g.idle() {
			live, subscribed = true, g.subscribed()
			if g.protocolType != "consumer" {
				subscribed = nil
			}
		}
	})
	offs, err := s.log.GroupOffsets(req.Group)
	switch {
	case !ok:
		resp.ErrorCode = kerr.NotCoordinator.Code
	case err != nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case live && subscribed == nil:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	case !live && len(offs) == 0:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	}
	if resp.ErrorCode != 0 {
		r.respond(resp)
		return
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if subscribed[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if err := s.log.DeleteGroupOffsets(req.Group, t.Topic, p.Partition); err != nil {
				s.logger.Error("kafka: deleting committed offset failed", "group", req.Group, "topic", t.Topic, "partition", p.Partition, "err", err)
				rp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}
