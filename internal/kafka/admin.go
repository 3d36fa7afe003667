package kafka

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/manifest"
)

// Topic administration: CreateTopics, DeleteTopics, CreatePartitions and
// DescribeCluster (configs are in configs.go). A single node is the only
// replica of everything, so replication factors other than 1 (or -1, the
// default) and assignments naming other brokers are refused.

func handleCreateTopics(s *Server, r *request) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	_, defaults := s.log.TopicDefaults()
	seen := make(map[string]int)
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		var err error
		if seen[t.Topic] > 1 {
			err = protoErrf(kerr.InvalidRequest, "create topics: %q is named more than once", t.Topic)
		} else {
			var ti millrace.TopicInfo
			ti, err = s.createTopic(t, req.ValidateOnly)
			if err == nil {
				rt.TopicID, rt.NumPartitions, rt.ReplicationFactor = ti.ID, ti.Partitions, 1
				if r.version >= 5 {
					for _, c := range describeTopicConfigs(ti.Config, defaults, nil, false, false) {
						rc := kmsg.NewCreateTopicsResponseTopicConfig()
						rc.Name, rc.Value, rc.ReadOnly, rc.Source, rc.IsSensitive = c.Name, c.Value, c.ReadOnly, int8(c.Source), false
						rt.Configs = append(rt.Configs, rc)
					}
				}
			}
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}

// createTopic validates one CreateTopics entry and, unless validateOnly,
// creates the topic.
func (s *Server) createTopic(t kmsg.CreateTopicsRequestTopic, validateOnly bool) (millrace.TopicInfo, error) {
	defParts, defaults := s.log.TopicDefaults()
	if err := manifest.ValidateTopicName(t.Topic); err != nil {
		return millrace.TopicInfo{}, protoErrf(kerr.InvalidTopicException, "%v", err)
	}
	parts := t.NumPartitions
	switch {
	case len(t.ReplicaAssignment) > 0 && parts != -1:
		return millrace.TopicInfo{}, protoErrf(kerr.InvalidRequest, "topic %q: give a partition count or a replica assignment, not both", t.Topic)
	case len(t.ReplicaAssignment) > 0:
		parts = int32(len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if !slices.Equal(a.Replicas, []int32{s.cfg.NodeID}) {
				return millrace.TopicInfo{}, protoErrf(kerr.InvalidReplicaAssignment,
					"topic %q partition %d: replicas %v; this single node (id %d) is the only broker", t.Topic, a.Partition, a.Replicas, s.cfg.NodeID)
			}
		}
	case parts == -1:
		parts = defParts
	case parts <= 0 || parts > manifest.MaxPartitions:
		return millrace.TopicInfo{}, protoErrf(kerr.InvalidPartitions, "topic %q: %d partitions (want 1 to %d)", t.Topic, parts, manifest.MaxPartitions)
	}
	if t.ReplicationFactor != -1 && t.ReplicationFactor != 1 && len(t.ReplicaAssignment) == 0 {
		return millrace.TopicInfo{}, protoErrf(kerr.InvalidReplicationFactor,
			"topic %q: replication factor %d; millrace is a single node: use 1 (or -1 for the default)", t.Topic, t.ReplicationFactor)
	}
	cfg := cloneConfig(defaults)
	for _, c := range t.Configs {
		if err := setTopicConfig(&cfg, defaults, c.Name, c.Value); err != nil {
			return millrace.TopicInfo{}, err
		}
	}
	if _, _, err := s.log.TopicID(t.Topic); err == nil {
		return millrace.TopicInfo{}, protoErrf(kerr.TopicAlreadyExists, "topic %q already exists", t.Topic)
	}
	if validateOnly {
		return millrace.TopicInfo{Name: t.Topic, Partitions: parts, Config: cfg}, nil
	}
	ti, err := s.log.CreateTopic(t.Topic, parts, &cfg)
	if err == nil {
		s.logger.Info("kafka: created topic", "topic", t.Topic, "partitions", parts)
	}
	return ti, err
}

func handleDeleteTopics(s *Server, r *request) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if r.version < 6 {
		topics = nil
		for _, name := range req.TopicNames {
			topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: strp(name)})
		}
	}
	for _, t := range topics {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		var err error
		if t.Topic == nil || *t.Topic == "" {
			var name string
			if name, err = s.topicName(t.TopicID); err != nil {
				err = protoErrf(kerr.UnknownTopicID, "no topic has id %x", t.TopicID)
			} else {
				rt.Topic = strp(name)
			}
		}
		if err == nil {
			if id, _, e := s.log.TopicID(*rt.Topic); e == nil {
				rt.TopicID = id
			}
			if err = s.log.DeleteTopic(*rt.Topic); err == nil {
				s.logger.Info("kafka: deleted topic", "topic", *rt.Topic, "remote", r.c.remote)
			}
		}
		rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}

func handleCreatePartitions(s *Server, r *request) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		err := s.createPartitions(t, req.ValidateOnly)
		rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}

func (s *Server) createPartitions(t kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	_, have, err := s.log.TopicID(t.Topic)
	switch {
	case err != nil:
		return err
	case t.Count <= have:
		return protoErrf(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", t.Topic, have, t.Count)
	case t.Count > manifest.MaxPartitions:
		return protoErrf(kerr.InvalidPartitions, "topic %q: %d partitions is more than %d", t.Topic, t.Count, manifest.MaxPartitions)
	case t.Assignment != nil && len(t.Assignment) != int(t.Count-have):
		return protoErrf(kerr.InvalidReplicaAssignment, "topic %q: %d assignments for %d new partitions", t.Topic, len(t.Assignment), t.Count-have)
	}
	for _, a := range t.Assignment {
		if !slices.Equal(a.Replicas, []int32{s.cfg.NodeID}) {
			return protoErrf(kerr.InvalidReplicaAssignment, "topic %q: replicas %v; this single node (id %d) is the only broker", t.Topic, a.Replicas, s.cfg.NodeID)
		}
	}
	if validateOnly {
		return nil
	}
	if _, err := s.log.AddPartitions(t.Topic, t.Count); err != nil {
		if errors.Is(err, millrace.ErrInvalid) {
			return protoErrf(kerr.InvalidPartitions, "%v", err)
		}
		return err
	}
	s.logger.Info("kafka: added partitions", "topic", t.Topic, "partitions", t.Count)
	return nil
}

func handleDescribeCluster(s *Server, r *request) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if r.version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = strp("millrace has broker endpoints only (endpoint type 1)")
		r.respond(resp)
		return
	}
	host, port := s.advertised()
	resp.ClusterID, resp.ControllerID = s.cfg.ClusterID, s.cfg.NodeID
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = allClusterOperations
	}
	r.respond(resp)
}
