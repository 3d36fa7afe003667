package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// handleOffsetFetch returns committed offsets from the manifest: of the
// requested partitions (-1 where none was committed) or, with a null topic
// list, all of the group's. v8+ asks for several groups at once.
func handleOffsetFetch(s *Server, r *request) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.version >= 8 {
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group = g.Group
			var code int16
			rg.Topics, code = s.fetchOffsets(g.Group, g.Topics)
			rg.ErrorCode = code
			resp.Groups = append(resp.Groups, rg)
		}
		r.respond(resp)
		return
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if req.Topics != nil {
		topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
	}
	got, code := s.fetchOffsets(req.Group, topics)
	resp.ErrorCode = code
	for _, t := range got {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			if code != 0 && r.version < 2 {
				rp.ErrorCode = code // no top-level error field before v2
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}

// fetchOffsets looks up one group's offsets, in the v8 response shape.
func (s *Server) fetchOffsets(group string, topics []kmsg.OffsetFetchRequestGroupTopic) ([]kmsg.OffsetFetchResponseGroupTopic, int16) {
	if group == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	offs, err := s.log.GroupOffsets(group)
	if err != nil {
		s.logger.Error("kafka: reading committed offsets failed", "group", group, "err", err)
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	type tp struct {
		topic string
		part  int32
	}
	byTP := make(map[tp]millrace.GroupOffset, len(offs))
	for _, o := range offs {
		byTP[tp{o.Topic, o.Partition}] = o
	}
	part := func(topic string, p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
		if o, ok := byTP[tp{topic, p}]; ok {
			rp.Offset, rp.LeaderEpoch, rp.Metadata = o.Offset, o.LeaderEpoch, strp(o.Metadata)
		} else {
			rp.Metadata = strp("")
		}
		return rp
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	if topics == nil {
		for _, o := range offs { // ordered by topic, then partition
			if len(out) == 0 || out[len(out)-1].Topic != o.Topic {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = o.Topic
				out = append(out, rt)
			}
			rt := &out[len(out)-1]
			rt.Partitions = append(rt.Partitions, part(o.Topic, o.Partition))
		}
		return out, 0
	}
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, part(t.Topic, p))
		}
		out = append(out, rt)
	}
	return out, 0
}
