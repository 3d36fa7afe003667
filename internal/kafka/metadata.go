package kafka

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/manifest"
)

// allTopicOperations is the authorized-operations bit set of a topic when
// a client asks for it: with no ACLs, everything (Kafka's AclOperation
// codes READ 3 … ALTER_CONFIGS 11, DELETE_RECORDS excluded from the enum).
const allTopicOperations = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

// allClusterOperations: CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
const allClusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func handleMetadata(s *Server, r *request) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.advertised()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ClusterID = strp(s.cfg.ClusterID)
	resp.ControllerID = s.cfg.NodeID
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = allClusterOperations
	}
	// Before v4 a client could not say; Kafka auto-created then.
	autoCreate := (req.AllowAutoTopicCreation || r.version < 4) && s.log.AutoCreate()
	if req.Topics == nil || (r.version == 0 && len(req.Topics) == 0) {
		for _, ti := range s.log.Topics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(req, ti.Name, ti.ID, ti.Partitions, nil))
		}
		r.respond(resp)
		return
	}
	for _, t := range req.Topics {
		if t.Topic == nil || *t.Topic == "" {
			name, err := s.topicName(t.TopicID)
			if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID, mt.ErrorCode = t.TopicID, kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			t.Topic = &name
		}
		name := *t.Topic
		var id [16]byte
		var parts int32
		err := manifest.ValidateTopicName(name)
		if err == nil {
			id, parts, err = s.log.TopicID(name)
		}
		if errorCode(err) == kerr.UnknownTopicOrPartition.Code && autoCreate {
			var ti millrace.TopicInfo
			if ti, err = s.log.EnsureTopic(name); err == nil {
				id, parts = ti.ID, ti.Partitions
				s.logger.Info("kafka: auto-created topic", "topic", name, "partitions", parts, "remote", r.c.remote)
			}
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(req, name, id, parts, err))
	}
	r.respond(resp)
}

// metadataTopic describes one topic: this node leads every partition, is
// its only replica and is always in sync.
func (s *Server) metadataTopic(req *kmsg.MetadataRequest, name string, id [16]byte, parts int32, err error) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID = strp(name), id
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = allTopicOperations
	}
	if err != nil {
		mt.ErrorCode = errorCode(err)
		if mt.ErrorCode == kerr.InvalidRequest.Code {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		}
		return mt
	}
	node := []int32{s.cfg.NodeID}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, parts)
	for i := range mt.Partitions {
		p := &mt.Partitions[i]
		p.Default()
		p.Partition, p.Leader, p.LeaderEpoch = int32(i), s.cfg.NodeID, 0
		p.Replicas, p.ISR, p.OfflineReplicas = node, node, []int32{}
	}
	return mt
}

// topicIDCache remembers topic names by Kafka topic id, so that requests
// that name topics by id (Fetch v13+, Metadata v10+) cost a map look-up,
// not a manifest query. Entries are checked against the Log on use, so a
// deleted or re-created topic is never served under a stale id.
type topicIDCache struct {
	mu   sync.Mutex
	byID map[[16]byte]string
}

// maxCachedTopicIDs bounds the cache; past it, it starts over.
const maxCachedTopicIDs = 1 << 16

// topicName returns the name of the topic with Kafka id id, or an error
// matching millrace.ErrUnknownTopic.
func (s *Server) topicName(id [16]byte) (string, error) {
	c := &s.topics
	c.mu.Lock()
	name, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		if cur, _, err := s.log.TopicID(name); err == nil && cur == id {
			return name, nil
		}
	}
	ti, err := s.log.TopicByID(id)
	if err != nil {
		return "", fmt.Errorf("kafka: topic id %x: %w", id, err)
	}
	c.mu.Lock()
	if c.byID == nil || len(c.byID) >= maxCachedTopicIDs {
		c.byID = make(map[[16]byte]string)
	}
	c.byID[id] = ti.Name
	c.mu.Unlock()
	return ti.Name, nil
}
