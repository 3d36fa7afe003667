package kafka

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// handleDescribeConfigs describes topics' configs (with their defaults)
// and a minimal, read-only set of broker configs.
func handleDescribeConfigs(s *Server, r *request) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	_, defaults := s.log.TopicDefaults()
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			ti, err := s.log.Topic(res.ResourceName)
			if err != nil {
				rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			rr.Configs = describeTopicConfigs(ti.Config, defaults, res.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBroker:
			if res.ResourceName != "" && res.ResourceName != strconv.Itoa(int(s.cfg.NodeID)) {
				rr.ErrorCode, rr.ErrorMessage = kerr.InvalidRequest.Code, strp("unknown broker "+strconv.Quote(res.ResourceName))
				break
			}
			rr.Configs = s.brokerConfigs(res.ConfigNames, req.IncludeSynonyms)
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			rr.ErrorMessage = strp("millrace describes topic and broker configs only, not resource type " + res.ResourceType.String())
		}
		resp.Resources = append(resp.Resources, rr)
	}
	r.respond(resp)
}

// brokerConfigs is what a broker shows of itself: the settings clients
// and tools look at, all static.
func (s *Server) brokerConfigs(names []string, synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	parts, defaults := s.log.TopicDefaults()
	autoCreate := strconv.FormatBool(s.log.AutoCreate())
	id := strconv.Itoa(int(s.cfg.NodeID))
	list := []struct {
		name, value string
		typ         kmsg.ConfigType
	}{
		{"broker.id", id, kmsg.ConfigTypeInt},
		{"node.id", id, kmsg.ConfigTypeInt},
		{"auto.create.topics.enable", autoCreate, kmsg.ConfigTypeBoolean},
		{"num.partitions", strconv.Itoa(int(parts)), kmsg.ConfigTypeInt},
		{"default.replication.factor", "1", kmsg.ConfigTypeInt},
		{"offsets.topic.replication.factor", "1", kmsg.ConfigTypeShort},
		{"min.insync.replicas", "1", kmsg.ConfigTypeInt},
		{"log.retention.ms", strconv.FormatInt(defaults.RetentionMs, 10), kmsg.ConfigTypeLong},
		{"log.retention.bytes", strconv.FormatInt(defaults.RetentionBytes, 10), kmsg.ConfigTypeLong},
		{"log.segment.bytes", strconv.FormatInt(defaults.SegmentBytes, 10), kmsg.ConfigTypeInt},
		{"message.max.bytes", strconv.FormatInt(defaults.MaxMessageBytes, 10), kmsg.ConfigTypeInt},
		{"group.min.session.timeout.ms", strconv.FormatInt(s.cfg.GroupMinSessionTimeout.Milliseconds(), 10), kmsg.ConfigTypeInt},
		{"group.max.session.timeout.ms", strconv.FormatInt(s.cfg.GroupMaxSessionTimeout.Milliseconds(), 10), kmsg.ConfigTypeInt},
		{"group.initial.rebalance.delay.ms", strconv.FormatInt(s.cfg.GroupInitialRebalanceDelay.Milliseconds(), 10), kmsg.ConfigTypeInt},
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, c := range list {
		if names != nil && !contains(names, c.name) {
			continue
		}
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name, e.Value, e.ReadOnly, e.ConfigType = c.name, strp(c.value), true, c.typ
		e.Source = kmsg.ConfigSourceStaticBrokerConfig
		if synonyms {
			e.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{{Name: c.name, Value: e.Value, Source: e.Source}}
		}
		out = append(out, e)
	}
	return out
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// errStaticBroker answers attempts to change broker configs.
var errStaticBroker = protoErrf(kerr.InvalidConfig, "millrace's broker configs are static: set them in millrace serve's configuration")

// handleIncrementalAlterConfigs sets or resets topic configs one by one
// (SET, DELETE). APPEND and SUBTRACT apply only to list configs, and the
// only one, cleanup.policy, has a single allowed value.
func handleIncrementalAlterConfigs(s *Server, r *request) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	_, defaults := s.log.TopicDefaults()
	for _, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := s.alterTopic(res.ResourceType, res.ResourceName, req.ValidateOnly, func(c *millrace.TopicConfig) error {
			for _, e := range res.Configs {
				var err error
				switch e.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if e.Value == nil {
						return configErr(e.Name, "null", "SET needs a value")
					}
					err = setTopicConfig(c, defaults, e.Name, e.Value)
				case kmsg.IncrementalAlterConfigOpDelete:
					err = resetTopicConfig(c, defaults, e.Name)
				case kmsg.IncrementalAlterConfigOpAppend:
					if e.Name != "cleanup.policy" || e.Value == nil || *e.Value != "delete" {
						return configErr(e.Name, deref(e.Value), "APPEND applies only to cleanup.policy, whose only value is \"delete\"")
					}
					err = setTopicConfig(c, defaults, e.Name, e.Value)
				default:
					return configErr(e.Name, deref(e.Value), "operation "+e.Op.String()+" is not supported")
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	r.respond(resp)
}

// handleAlterConfigs replaces topic configs wholesale (the legacy API):
// what the request does not name returns to its default.
func handleAlterConfigs(s *Server, r *request) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	_, defaults := s.log.TopicDefaults()
	for _, res := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := s.alterTopic(res.ResourceType, res.ResourceName, req.ValidateOnly, func(c *millrace.TopicConfig) error {
			*c = cloneConfig(defaults)
			for _, e := range res.Configs {
				if err := setTopicConfig(c, defaults, e.Name, e.Value); err != nil {
					return err
				}
			}
			return nil
		})
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	r.respond(resp)
}

// alterTopic applies change to a copy of a topic's config and, unless
// validateOnly, stores it.
func (s *Server) alterTopic(typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(*millrace.TopicConfig) error) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return errStaticBroker
	default:
		return protoErrf(kerr.InvalidRequest, "millrace alters topic configs only, not resource type %s", typ)
	}
	ti, err := s.log.Topic(name)
	if err != nil {
		return err
	}
	cfg := cloneConfig(ti.Config)
	if err := change(&cfg); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if _, err := s.log.AlterTopicConfig(name, cfg); err != nil {
		return err
	}
	s.logger.Info("kafka: altered topic config", "topic", name)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
