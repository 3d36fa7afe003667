package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValidAndSingleNodeOnLoopback(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "./millrace-data" || c.HTTPAddr != "127.0.0.1:8080" || c.KafkaAddr != "127.0.0.1:9092" ||
		c.LogFormat != "text" || c.Fsync != "always" || !c.AutoCreate {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsBeatEnvBeatFileBeatDefaults(t *testing.T) {
	file := writeFile(t, "m.yaml", "data: /from/file\nhttp_addr: 127.0.0.1:1001\nkafka_addr: 127.0.0.1:1002\nlog_level: warn\n")
	env := map[string]string{"MILLRACE_CONFIG": file, "MILLRACE_HTTP_ADDR": "127.0.0.1:2001", "MILLRACE_KAFKA_ADDR": "127.0.0.1:2002"}
	c, err := load(t, []string{"--kafka-addr", "127.0.0.1:3002"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/from/file" || c.HTTPAddr != "127.0.0.1:2001" || c.KafkaAddr != "127.0.0.1:3002" || c.LogLevel != "warn" || c.LogFormat != "text" {
		t.Fatalf("precedence: %+v", c)
	}
	// --config beats MILLRACE_CONFIG.
	other := writeFile(t, "o.toml", "data = \"/from/toml\"\n")
	c, err = load(t, []string{"--config", other}, env)
	if err != nil || c.Data != "/from/toml" {
		t.Fatalf("--config over env: %v %+v", err, c)
	}
}

func TestYAMLAndTOMLFilesSetEveryKind(t *testing.T) {
	yml := `
fsync: interval=50
shards: 4
max_pending_bytes: 128MiB
tail_cache_bytes: 1048576
index_cache_bytes: 16MiB
fsync_unwaited_delay: 2ms
segment_bytes: 64MiB
segment_age: 10m
auto_create: false
min_free_disk_bytes: 1GB
retention_interval: 5s
max_request_bytes: 8MiB
drop_sealed_page_cache: false
preallocate_segments: true
default_topic:
  partitions: 6
  retention_ms: 3600000
  retention_bytes: -1
  max_message_bytes: 2MiB
`
	tml := `
fsync = "interval=50"
shards = 4
max_pending_bytes = "128MiB"
tail_cache_bytes = 1048576
index_cache_bytes = "16MiB"
fsync_unwaited_delay = "2ms"
segment_bytes = "64MiB"
segment_age = "10m"
auto_create = false
min_free_disk_bytes = "1GB"
retention_interval = "5s"
max_request_bytes = "8MiB"
drop_sealed_page_cache = false
preallocate_segments = true
[default_topic]
partitions = 6
retention_ms = 3600000
retention_bytes = -1
max_message_bytes = "2MiB"
`
	if d := Default(); !d.LogOptions().DropSealedPageCache {
		t.Fatal("the server's default does not drop sealed segments' cached pages")
	}
	for name, body := range map[string]string{"c.yaml": yml, "c.toml": tml} {
		c, err := load(t, []string{"--config", writeFile(t, name, body)}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := Default()
		want.Fsync, want.Shards, want.MaxPendingBytes, want.TailCacheBytes = "interval=50", 4, 128<<20, 1<<20
		want.SegmentBytes, want.SegmentAge, want.AutoCreate = 64<<20, Duration(10*time.Minute), false
		want.MinFreeDiskBytes, want.RetentionInterval, want.MaxRequestBytes = 1e9, Duration(5*time.Second), 8<<20
		want.DropSealedPageCache, want.IndexCacheBytes, want.FsyncUnwaitedDelay = false, 16<<20, Duration(2*time.Millisecond)
		want.PreallocateSegments = true
		want.DefaultTopic = TopicDefaults{Partitions: 6, RetentionMs: 3600000, RetentionBytes: -1,
			SegmentBytes: Default().DefaultTopic.SegmentBytes, MaxMessageBytes: 2 << 20}
		if c != want {
			t.Fatalf("%s:\n got %+v\nwant %+v", name, c, want)
		}
		opts := c.LogOptions()
		if opts.DisableAutoCreate != true || opts.DefaultPartitions != 6 || opts.DefaultConfig.MaxMessageBytes != 2<<20 || opts.DropSealedPageCache || opts.IndexCacheBytes != 16<<20 ||
			opts.UnwaitedSyncDelay != 2*time.Millisecond || !opts.PreallocateSegments {
			t.Fatalf("%s: log options %+v", name, opts)
		}
	}
}

func TestErrorsNameTheBadField(t *testing.T) {
	cases := []struct {
		name, file string
		args       []string
		env        map[string]string
		want       string
	}{
		{name: "bad http addr flag", args: []string{"--http-addr", "localhost"}, want: "http_addr"},
		{name: "bad kafka port env", env: map[string]string{"MILLRACE_KAFKA_ADDR": "127.0.0.1:99999"}, want: "kafka_addr"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, want: "log_format"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, want: "log_level"},
		{name: "bad fsync", file: "fsync: sometimes\n", want: "fsync"},
		{name: "bad fsync interval", file: "fsync: interval=0\n", want: "fsync"},
		{name: "bad shards", file: "shards: 0\n", want: "shards"},
		{name: "tiny pending", file: "max_pending_bytes: 10\n", want: "max_pending_bytes"},
		{name: "tiny memory limit", file: "memory_limit: 1MiB\n", want: "memory_limit"},
		{name: "negative gc percent", file: "gc_percent: -5\n", want: "gc_percent"},
		{name: "pprof address without a port", file: "pprof_addr: localhost\n", want: "pprof_addr"},
		{name: "flusher nice out of range", file: "flusher_nice: -21\n", want: "flusher_nice"},
		{name: "fsync hold too long", file: "fsync_unwaited_delay: 2s\n", want: "fsync_unwaited_delay"},
		{name: "negative index cache", file: "index_cache_bytes: -1\n", want: "index_cache_bytes"},
		{name: "bad size", file: "segment_bytes: lots\n", want: "lots"},
		{name: "bad duration", file: "retention_interval: 30\n", want: "not a duration"},
		{name: "bad partitions", file: "default_topic:\n  partitions: 0\n", want: "default_topic.partitions"},
		{name: "bad retention", file: "default_topic:\n  retention_ms: -5\n", want: "default_topic.retention_ms"},
		{name: "unknown key", file: "fsynk: always\n", want: "fsynk"},
		{name: "extra argument", args: []string{"now"}, want: `unexpected argument "now"`},
		{name: "unknown flag", args: []string{"--nope"}, want: "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tc.file))
			}
			_, err := load(t, args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := load(t, []string{"--config", writeFile(t, "c.ini", "")}, nil); err == nil || !strings.Contains(err.Error(), ".ini") {
		t.Fatalf("unknown extension: %v", err)
	}
	if _, err := load(t, []string{"--config", writeFile(t, "c.toml", "bogus = 1\n")}, nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown toml key: %v", err)
	}
	if _, err := load(t, []string{"-h"}, nil); !errors.Is(err, ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestByteSizeParsesUnits(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "17": 17, "1KiB": 1024, "2 MiB": 2 << 20, "3GB": 3e9, "5B": 5, "1TiB": 1 << 40} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5GiB", "-", "99999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
	if s := ByteSize(64 << 20).String(); s != "64MiB" {
		t.Errorf("String = %s", s)
	}
}

// The example files in docs/ are the defaults, written out: they must
// parse to exactly Default().
func TestExampleFilesAreTheDefaults(t *testing.T) {
	for _, name := range []string{"millrace.example.yaml", "millrace.example.toml"} {
		c, err := load(t, []string{"--config", filepath.Join("..", "..", "docs", name)}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c != Default() {
			t.Fatalf("%s:\n got %+v\nwant %+v", name, c, Default())
		}
	}
}
