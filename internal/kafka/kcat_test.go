package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

// kcat (librdkafka) against the server: produce with each codec, consume
// with -e, compare. Skipped when kcat is not installed (Debian: apt-get
// install kcat).
func TestKcatProduceConsumeEveryCodec(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	ts := startServer(t, "", Config{}, millrace.Options{})
	codecs := map[string]batch.Compression{"none": batch.None, "gzip": batch.Gzip, "snappy": batch.Snappy, "lz4": batch.LZ4, "zstd": batch.Zstd}
	for name, want := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "kcat-" + name
			createTopic(t, ts, topic, 3)
			var in bytes.Buffer
			var lines []string
			for i := range 200 {
				v := fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%50))
				switch {
				case i == 100:
					v = strings.Repeat("L", 900_000) // large, under librdkafka's default message.max.bytes
				case i%25 == 7:
					v = ""
				}
				line := fmt.Sprintf("key-%d:%s", i%10, v)
				lines = append(lines, line)
				in.WriteString(line + "\n")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			prod := exec.CommandContext(ctx, kcat, "-b", ts.addr, "-t", topic, "-P", "-z", name, "-K:", "-H", "origin=kcat",
				"-X", "message.max.bytes=2000000", "-X", "acks=all")
			prod.Stdin = &in
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat produce: %v\n%s", err, out)
			}
			cons := exec.CommandContext(ctx, kcat, "-b", ts.addr, "-t", topic, "-C", "-e", "-o", "beginning", "-J",
				"-X", "fetch.message.max.bytes=4000000")
			out, err := cons.Output()
			if err != nil {
				t.Fatalf("kcat consume: %v", err)
			}
			type msg struct {
				Partition int32    `json:"partition"`
				Offset    int64    `json:"offset"`
				Key       *string  `json:"key"`
				Payload   *string  `json:"payload"`
				Headers   []string `json:"headers"`
			}
			var got []string
			next := make(map[int32]int64)
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 8<<20)
			for sc.Scan() {
				var m msg
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("kcat output %q: %v", sc.Bytes()[:min(len(sc.Bytes()), 100)], err)
				}
				if m.Offset != next[m.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", m.Partition, m.Offset, next[m.Partition])
				}
				next[m.Partition]++
				if len(m.Headers) != 2 || m.Headers[0] != "origin" || m.Headers[1] != "kcat" {
					t.Fatalf("headers %v", m.Headers)
				}
				var k, v string
				if m.Key != nil {
					k = *m.Key
				}
				if m.Payload != nil {
					v = *m.Payload
				}
				got = append(got, k+":"+v)
			}
			checkSameLines(t, lines, got)
			checkStoredCodec(t, ts, topic, 3, want)
		})
	}
}

// checkSameLines compares produced and consumed "key:value" lines: the same
// multiset, and each key's values in produce order.
func checkSameLines(t *testing.T, produced, consumed []string) {
	t.Helper()
	if len(consumed) != len(produced) {
		t.Fatalf("consumed %d records, produced %d", len(consumed), len(produced))
	}
	byKey := func(lines []string) map[string][]string {
		m := make(map[string][]string)
		for _, l := range lines {
			k, _, _ := strings.Cut(l, ":")
			m[k] = append(m[k], l)
		}
		return m
	}
	p, c := byKey(produced), byKey(consumed)
	for k, want := range p {
		got := c[k]
		if len(got) != len(want) {
			t.Fatalf("key %s: %d records consumed, %d produced", k, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("key %s: record %d differs (%d vs %d bytes) or is out of order", k, i, len(got[i]), len(want[i]))
			}
		}
	}
}

// kcat's balanced consumer (-G): librdkafka's group protocol (JoinGroup,
// SyncGroup, Heartbeat, OffsetCommit, OffsetFetch) against the
// coordinator. A second run of the same group reads nothing: the first
// one committed.
func TestKcatGroupConsumerCommits(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	ts := startServer(t, "", Config{}, millrace.Options{})
	createTopic(t, ts, "kcat-group", 2)
	produceTo(t, ts, "kcat-group", 2, 30, "g")
	consume := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-b", ts.addr, "-G", "kcat-g", "kcat-group", "-e", "-X", "auto.offset.reset=earliest",
			"-f", "%s\n", "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat -G: %v", err)
		}
		return strings.Fields(string(out))
	}
	if got := consume(); len(got) != 60 {
		t.Fatalf("first group run consumed %d records, want 60", len(got))
	}
	if got := consume(); len(got) != 0 {
		t.Fatalf("second group run consumed %d records, want 0 (offsets committed)", len(got))
	}
}
