package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

const topicsUsage = `Usage:
  millrace topics create NAME [--partitions N] [--config KEY=VALUE]...
  millrace topics list [--json]
  millrace topics describe NAME [--json]
  millrace topics alter NAME [--partitions N] [--config KEY=VALUE]... [--reset KEY]...
  millrace topics delete NAME

Manages topics on a running server. Config keys are Kafka's: retention.ms,
retention.bytes (per partition), segment.bytes, max.message.bytes, and any
other key, kept verbatim. -1 means unlimited for the retention keys.
Partitions can be added, never removed.

Examples:
  millrace topics create orders --partitions 3 --config retention.ms=86400000
  millrace topics list
  millrace topics describe orders
  millrace topics alter orders --partitions 6 --config retention.bytes=1073741824
  millrace topics alter orders --reset retention.bytes
  millrace topics delete orders
`

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runTopics(e *env, args []string) error {
	fs := e.newFlags("topics", topicsUsage)
	server := e.serverFlag(fs)
	partitions := fs.Int("partitions", 0, "partition count (create: default the server's; alter: the new, larger count)")
	var configs, resets multiFlag
	fs.Var(&configs, "config", "topic config KEY=VALUE (repeatable)")
	fs.Var(&resets, "reset", "alter: reset config KEY to its default (repeatable)")
	asJSON := fs.Bool("json", false, "list, describe: print the server's JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("topics: missing subcommand: create, list, describe, alter or delete (see 'millrace topics --help')")
	}
	c, err := newClient(*server)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	needName := func() (string, error) {
		if len(rest) != 1 {
			return "", usageErrorf("topics %s: want exactly one topic name, got %d arguments", sub, len(rest))
		}
		return rest[0], nil
	}
	cfg := map[string]any{}
	for _, kv := range configs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("topics %s: --config %q is not KEY=VALUE", sub, kv)
		}
		cfg[k] = v
	}
	for _, k := range resets {
		cfg[k] = nil
	}
	ctx := context.Background()
	switch sub {
	case "create":
		name, err := needName()
		if err != nil {
			return err
		}
		req := map[string]any{"name": name}
		if *partitions > 0 {
			req["partitions"] = *partitions
		}
		if len(cfg) > 0 {
			req["config"] = cfg
		}
		var ti topicInfo
		if err := c.call(ctx, http.MethodPost, "/v1/topics", req, &ti); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created topic %q with %d partitions\n", ti.Name, ti.Partitions)
	case "list":
		if len(rest) != 0 {
			return usageErrorf("topics list takes no arguments")
		}
		var out struct {
			Topics []topicInfo `json:"topics"`
		}
		if err := c.call(ctx, http.MethodGet, "/v1/topics", nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPARTITIONS\tRETENTION.MS\tRETENTION.BYTES")
		for _, t := range out.Topics {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t.Name, t.Partitions, configValue(t.Config["retention.ms"]), configValue(t.Config["retention.bytes"]))
		}
		return tw.Flush()
	case "describe":
		name, err := needName()
		if err != nil {
			return err
		}
		ti, err := c.describe(ctx, name)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e, ti)
		}
		printTopic(e, ti)
	case "alter":
		name, err := needName()
		if err != nil {
			return err
		}
		req := map[string]any{}
		if *partitions > 0 {
			req["partitions"] = *partitions
		}
		if len(cfg) > 0 {
			req["config"] = cfg
		}
		if len(req) == 0 {
			return usageErrorf("topics alter: nothing to change: give --partitions, --config or --reset")
		}
		var ti topicInfo
		if err := c.call(ctx, http.MethodPatch, topicPath(name), req, &ti); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "altered topic %q: %d partitions\n", ti.Name, ti.Partitions)
	case "delete":
		name, err := needName()
		if err != nil {
			return err
		}
		if err := c.call(ctx, http.MethodDelete, topicPath(name), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted topic %q\n", name)
	default:
		return usageErrorf("topics: unknown subcommand %q: want create, list, describe, alter or delete", sub)
	}
	return nil
}

func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTopic(e *env, ti topicInfo) {
	fmt.Fprintf(e.stdout, "topic %s  id %s  partitions %d\n", ti.Name, ti.ID, ti.Partitions)
	keys := make([]string, 0, len(ti.Config))
	for k := range ti.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "  %s=%v\n", k, configValue(ti.Config[k]))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLOG-START\tHIGH\tDURABLE\tRECORDS\tBYTES\tSEGMENTS\tFIRST\tLAST")
	for _, p := range ti.PartitionInfo {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Partition, p.LogStartOffset, p.HighWatermark,
			p.DurableOffset, p.Records, p.Bytes, p.Segments, orDash(p.FirstTimestamp), orDash(p.LastTimestamp))
	}
	tw.Flush()
}

// configValue prints JSON numbers as integers, not 6.048e+08.
func configValue(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
