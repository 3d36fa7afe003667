package kafka

import (
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// configSpec is a topic config the Kafka front end understands: how to
// show it and, unless it is read-only, how to set it.
type configSpec struct {
	name string
	typ  kmsg.ConfigType
	doc  string
	get  func(c millrace.TopicConfig) string
	set  func(c *millrace.TopicConfig, v string) error // nil: read-only
	// extra: kept in TopicConfig.Extra rather than a typed field.
	extra bool
}

// topicConfigs are the topic configs millrace describes and accepts. The
// first four are acted on by the log; cleanup.policy exists only as
// "delete" (no compaction); min.insync.replicas and
// unclean.leader.election.enable are kept for tools that set them, with
// the only values that mean something on a single node; the rest are
// read-only facts.
var topicConfigs = []configSpec{
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, doc: "Only \"delete\": millrace does not compact.", extra: true,
		get: extra("cleanup.policy", "delete"), set: func(c *millrace.TopicConfig, v string) error {
			if v != "delete" {
				return configErr("cleanup.policy", v, "millrace supports only \"delete\" (log compaction is not supported)")
			}
			return setExtra("cleanup.policy", "delete")(c, v)
		}},
	{name: "retention.ms", typ: kmsg.ConfigTypeLong, doc: "Age past which whole segments are deleted; -1 for no limit.",
		get: func(c millrace.TopicConfig) string { return strconv.FormatInt(c.RetentionMs, 10) },
		set: func(c *millrace.TopicConfig, v string) (err error) {
			c.RetentionMs, err = parseConfigInt("retention.ms", v, -1)
			return
		}},
	{name: "retention.bytes", typ: kmsg.ConfigTypeLong, doc: "Bytes kept per partition; -1 for no limit.",
		get: func(c millrace.TopicConfig) string { return strconv.FormatInt(c.RetentionBytes, 10) },
		set: func(c *millrace.TopicConfig, v string) (err error) {
			c.RetentionBytes, err = parseConfigInt("retention.bytes", v, -1)
			return
		}},
	{name: "segment.bytes", typ: kmsg.ConfigTypeInt, doc: "Granularity at which retention deletes a partition's data.",
		get: func(c millrace.TopicConfig) string { return strconv.FormatInt(c.SegmentBytes, 10) },
		set: func(c *millrace.TopicConfig, v string) (err error) {
			c.SegmentBytes, err = parseConfigInt("segment.bytes", v, 14)
			return
		}},
	{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, doc: "Largest record batch accepted.",
		get: func(c millrace.TopicConfig) string { return strconv.FormatInt(c.MaxMessageBytes, 10) },
		set: func(c *millrace.TopicConfig, v string) (err error) {
			c.MaxMessageBytes, err = parseConfigInt("max.message.bytes", v, 0)
			return
		}},
	{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, doc: "Always 1: a single node is its only replica.",
		get: extra("min.insync.replicas", "1"), set: setExtra("min.insync.replicas", "1"), extra: true},
	{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, doc: "Without replicas there is no election.",
		get: extra("unclean.leader.election.enable", "false"), set: setExtra("unclean.leader.election.enable", "false", "true"), extra: true},
	{name: "compression.type", typ: kmsg.ConfigTypeString, doc: "Batches are stored as the producer compressed them.",
		get: func(millrace.TopicConfig) string { return "producer" }},
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, doc: "Records keep the producer's timestamps.",
		get: func(millrace.TopicConfig) string { return "CreateTime" }},
}

func configSpecFor(name string) *configSpec {
	i := slices.IndexFunc(topicConfigs, func(s configSpec) bool { return s.name == name })
	if i < 0 {
		return nil
	}
	return &topicConfigs[i]
}

func extra(name, def string) func(millrace.TopicConfig) string {
	return func(c millrace.TopicConfig) string {
		if v, ok := c.Extra[name]; ok {
			return v
		}
		return def
	}
}

func setExtra(name string, allowed ...string) func(*millrace.TopicConfig, string) error {
	return func(c *millrace.TopicConfig, v string) error {
		if !slices.Contains(allowed, v) {
			return configErr(name, v, "allowed on a single node: "+join(allowed))
		}
		if c.Extra == nil {
			c.Extra = make(map[string]string)
		}
		c.Extra[name] = v
		return nil
	}
}

func join(vs []string) string {
	out := ""
	for i, v := range vs {
		if i > 0 {
			out += ", "
		}
		out += strconv.Quote(v)
	}
	return out
}

func configErr(name, value, why string) error {
	return protoErrf(kerr.InvalidConfig, "topic config %s=%q: %s", name, value, why)
}

func parseConfigInt(name, v string, min int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, configErr(name, v, "not an integer")
	}
	if n < min {
		return 0, configErr(name, v, "must be at least "+strconv.FormatInt(min, 10))
	}
	return n, nil
}

// cloneConfig copies a config so that it can be changed without touching
// the Log's copy.
func cloneConfig(c millrace.TopicConfig) millrace.TopicConfig {
	c.Extra = maps.Clone(c.Extra)
	return c
}

// setTopicConfig sets one config by Kafka name; a nil value resets it.
func setTopicConfig(c *millrace.TopicConfig, defaults millrace.TopicConfig, name string, value *string) error {
	spec := configSpecFor(name)
	switch {
	case spec == nil:
		return protoErrf(kerr.InvalidConfig, "unknown or unsupported topic config %q", name)
	case value == nil:
		return resetTopicConfig(c, defaults, name)
	case spec.set == nil:
		if *value == spec.get(*c) {
			return nil
		}
		return configErr(name, *value, "read-only in millrace (always "+strconv.Quote(spec.get(*c))+")")
	}
	return spec.set(c, *value)
}

// resetTopicConfig returns one config to its default: a typed field takes
// the default's value, a config kept in Extra is removed (or takes the
// default's Extra value).
func resetTopicConfig(c *millrace.TopicConfig, defaults millrace.TopicConfig, name string) error {
	spec := configSpecFor(name)
	switch {
	case spec == nil:
		return protoErrf(kerr.InvalidConfig, "unknown or unsupported topic config %q", name)
	case spec.set == nil:
		return nil // read-only: always at its default
	case spec.extra:
		delete(c.Extra, name)
		if v, ok := defaults.Extra[name]; ok {
			if c.Extra == nil {
				c.Extra = make(map[string]string)
			}
			c.Extra[name] = v
		}
		if len(c.Extra) == 0 {
			c.Extra = nil
		}
		return nil
	}
	return spec.set(c, spec.get(defaults))
}

// describeTopicConfigs lists a topic's configs (only names if given),
// each marked default or set for the topic.
func describeTopicConfigs(c, defaults millrace.TopicConfig, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, spec := range topicConfigs {
		if names != nil && !slices.Contains(names, spec.name) {
			continue
		}
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		v := spec.get(c)
		e.Name, e.Value, e.ReadOnly, e.ConfigType = spec.name, strp(v), spec.set == nil, spec.typ
		e.IsDefault = v == spec.get(defaults)
		_, inExtra := c.Extra[spec.name]
		e.Source = kmsg.ConfigSourceDefaultConfig
		if !e.IsDefault || inExtra {
			e.IsDefault, e.Source = false, kmsg.ConfigSourceDynamicTopicConfig
		}
		if synonyms {
			e.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{{Name: spec.name, Value: e.Value, Source: e.Source}}
		}
		if docs {
			e.Documentation = strp(spec.doc)
		}
		out = append(out, e)
	}
	return out
}
