// Package config is millrace serve's configuration: one Config struct with
// defaults and validation, filled in one place (Load) from, by increasing
// precedence, the defaults, a YAML or TOML file, MILLRACE_* environment
// variables and command-line flags.
//
// Components do not read the Config: the server translates it into what
// each one takes (millrace.Options for the log, httpapi.Options for the
// HTTP API). docs/configuration.md documents every field with an example
// file; keep the two in step.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/commitlog"
)

// Config is everything millrace serve can be told. The yaml and toml tags
// are the keys of the configuration file.
type Config struct {
	// Data is the data directory.
	Data string `yaml:"data" toml:"data"`
	// HTTPAddr is the HOST:PORT of the HTTP API.
	HTTPAddr string `yaml:"http_addr" toml:"http_addr"`
	// KafkaAddr is the HOST:PORT of the Kafka protocol listener.
	KafkaAddr string `yaml:"kafka_addr" toml:"kafka_addr"`
	// KafkaAdvertisedAddr is the HOST:PORT Kafka clients are told to
	// connect to; empty means kafka_addr's (see docs/kafka.md).
	KafkaAdvertisedAddr string `yaml:"kafka_advertised_addr" toml:"kafka_advertised_addr"`
	// LogFormat is "text" or "json".
	LogFormat string `yaml:"log_format" toml:"log_format"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" toml:"log_level"`

	// Fsync is "always", "never" or "interval=<ms>".
	Fsync string `yaml:"fsync" toml:"fsync"`
	// Shards is the number of commit logs; fixed when the data directory
	// is created.
	Shards int `yaml:"shards" toml:"shards"`
	// MaxPendingBytes bounds, per shard, data accepted but not yet
	// persisted; past it appends are shed (HTTP 429).
	MaxPendingBytes ByteSize `yaml:"max_pending_bytes" toml:"max_pending_bytes"`
	// MemoryLimit is a soft limit on the whole process's memory, handed to
	// the Go runtime (as GOMEMLIMIT would be): the collector works harder
	// as the heap nears it. 0 leaves the runtime's default (no limit).
	MemoryLimit ByteSize `yaml:"memory_limit" toml:"memory_limit"`
	// GCPercent sets the Go collector's target (as GOGC would): higher
	// collects less often, trading memory for fewer pauses. 0 leaves the
	// runtime's default (GOGC from the environment, else 100).
	GCPercent int `yaml:"gc_percent" toml:"gc_percent"`
	// PprofAddr, if set, serves Go's runtime profiles (net/http/pprof
	// under /debug/pprof/) on its own listener at this address, for
	// profiling a server under load. Empty (the default) serves none.
	PprofAddr string `yaml:"pprof_addr" toml:"pprof_addr"`
	// TailCacheBytes is recent data each shard keeps in memory for readers.
	TailCacheBytes ByteSize `yaml:"tail_cache_bytes" toml:"tail_cache_bytes"`
	// IndexCacheBytes bounds the memory for sealed segments' index entries
	// read back for reads of older data (millrace.Options.IndexCacheBytes).
	IndexCacheBytes ByteSize `yaml:"index_cache_bytes" toml:"index_cache_bytes"`
	// FlusherNice is the nice value of each shard's flusher thread (-20 to
	// 19; 0 leaves it at the process's). Negative values need CAP_SYS_NICE;
	// without it the setting is logged and ignored.
	FlusherNice int `yaml:"flusher_nice" toml:"flusher_nice"`
	// DropSealedPageCache drops written segments' cached pages one
	// segment behind the writes (see millrace.Options.DropSealedPageCache). The
	// server's default is true: on the project's VM it kept the page cache
	// from growing into memory whose every first touch is dear.
	DropSealedPageCache bool `yaml:"drop_sealed_page_cache" toml:"drop_sealed_page_cache"`
	// PreallocateSegments reserves each new segment's size on disk when it
	// is created (millrace.Options.PreallocateSegments); default false.
	PreallocateSegments bool `yaml:"preallocate_segments" toml:"preallocate_segments"`
	// FsyncUnwaitedDelay is how long, with fsync always, the flusher may
	// hold an fsync no appender waits for (millrace.Options.UnwaitedSyncDelay).
	FsyncUnwaitedDelay Duration `yaml:"fsync_unwaited_delay" toml:"fsync_unwaited_delay"`
	// SegmentBytes and SegmentAge are when a commit-log segment is sealed.
	SegmentBytes ByteSize `yaml:"segment_bytes" toml:"segment_bytes"`
	SegmentAge   Duration `yaml:"segment_age" toml:"segment_age"`
	// AutoCreate creates unknown topics on first append.
	AutoCreate bool `yaml:"auto_create" toml:"auto_create"`
	// DefaultTopic is the configuration of topics created without one.
	DefaultTopic TopicDefaults `yaml:"default_topic" toml:"default_topic"`
	// RetentionInterval is how often retention runs.
	RetentionInterval Duration `yaml:"retention_interval" toml:"retention_interval"`

	// MinFreeDiskBytes: below this much free space on the data directory's
	// file system the server turns read-only; 0 disables the check.
	MinFreeDiskBytes ByteSize `yaml:"min_free_disk_bytes" toml:"min_free_disk_bytes"`
	// DiskCheckInterval is how often free space is checked.
	DiskCheckInterval Duration `yaml:"disk_check_interval" toml:"disk_check_interval"`
	// MaxRequestBytes bounds an HTTP request body (HTTP 413 past it).
	MaxRequestBytes ByteSize `yaml:"max_request_bytes" toml:"max_request_bytes"`
	// ShutdownTimeout bounds how long in-flight HTTP requests may take to
	// finish after SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" toml:"shutdown_timeout"`
}

// TopicDefaults is the configuration given to topics created without one
// (and to auto-created topics). The keys are Kafka's with '_' for '.'.
type TopicDefaults struct {
	Partitions      int32    `yaml:"partitions" toml:"partitions"`
	RetentionMs     int64    `yaml:"retention_ms" toml:"retention_ms"`
	RetentionBytes  int64    `yaml:"retention_bytes" toml:"retention_bytes"`
	SegmentBytes    ByteSize `yaml:"segment_bytes" toml:"segment_bytes"`
	MaxMessageBytes ByteSize `yaml:"max_message_bytes" toml:"max_message_bytes"`
}

// Default returns the configuration of `millrace serve` with no flags: a
// single node on the loopback interface, data in ./millrace-data.
func Default() Config {
	tc := millrace.DefaultTopicConfig()
	return Config{
		Data:                "./millrace-data",
		HTTPAddr:            "127.0.0.1:8080",
		KafkaAddr:           "127.0.0.1:9092",
		LogFormat:           "text",
		LogLevel:            "info",
		Fsync:               "always",
		Shards:              1,
		MaxPendingBytes:     64 << 20,
		TailCacheBytes:      32 << 20,
		IndexCacheBytes:     64 << 20,
		FlusherNice:         -10,
		DropSealedPageCache: true,
		SegmentBytes:        256 << 20,
		SegmentAge:          Duration(time.Hour),
		AutoCreate:          true,
		RetentionInterval:   Duration(30 * time.Second),
		DefaultTopic: TopicDefaults{
			Partitions:      1,
			RetentionMs:     tc.RetentionMs,
			RetentionBytes:  tc.RetentionBytes,
			SegmentBytes:    ByteSize(tc.SegmentBytes),
			MaxMessageBytes: ByteSize(tc.MaxMessageBytes),
		},
		MinFreeDiskBytes:  100 << 20,
		DiskCheckInterval: Duration(time.Second),
		MaxRequestBytes:   32 << 20,
		ShutdownTimeout:   Duration(10 * time.Second),
	}
}

// Validate checks every field and names the first bad one, with the key
// it has in the configuration file.
func (c *Config) Validate() error {
	bad := func(key string, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Data) == "" {
		return bad("data", "the data directory is empty")
	}
	if err := checkAddr(c.HTTPAddr); err != nil {
		return bad("http_addr", "%v", err)
	}
	if err := checkAddr(c.KafkaAddr); err != nil {
		return bad("kafka_addr", "%v", err)
	}
	if a := c.KafkaAdvertisedAddr; a != "" {
		if err := checkAddr(a); err != nil {
			return bad("kafka_advertised_addr", "%v", err)
		}
		if host, port, _ := net.SplitHostPort(a); host == "" || port == "0" {
			return bad("kafka_advertised_addr", "%q: clients need a host and a port", a)
		}
	}
	if c.PprofAddr != "" {
		if err := checkAddr(c.PprofAddr); err != nil {
			return bad("pprof_addr", "%v", err)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log_format", "%q is not text or json", c.LogFormat)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return bad("log_level", "%v", err)
	}
	if _, err := commitlog.ParseSyncPolicy(c.Fsync); err != nil || c.Fsync == "" {
		return bad("fsync", "%q: want always, never or interval=<ms> (a positive number of milliseconds)", c.Fsync)
	}
	switch {
	case c.Shards < 1 || c.Shards > 1024:
		return bad("shards", "%d is not in 1..1024", c.Shards)
	case c.MaxPendingBytes < 64<<10:
		return bad("max_pending_bytes", "%s is below the minimum of 64KiB", c.MaxPendingBytes)
	case c.FlusherNice < -20 || c.FlusherNice > 19:
		return bad("flusher_nice", "%d is outside -20..19", c.FlusherNice)
	case c.TailCacheBytes < 0:
		return bad("tail_cache_bytes", "%s is negative", c.TailCacheBytes)
	case c.FsyncUnwaitedDelay < 0 || time.Duration(c.FsyncUnwaitedDelay) > 100*time.Millisecond:
		return bad("fsync_unwaited_delay", "%s is outside 0 to 100ms", c.FsyncUnwaitedDelay)
	case c.IndexCacheBytes < 0:
		return bad("index_cache_bytes", "%s is negative", c.IndexCacheBytes)
	case c.SegmentBytes < 1<<20:
		return bad("segment_bytes", "%s is below the minimum of 1MiB", c.SegmentBytes)
	case c.SegmentAge <= 0:
		return bad("segment_age", "%s is not positive", c.SegmentAge)
	case c.RetentionInterval < Duration(time.Second):
		return bad("retention_interval", "%s is below the minimum of 1s", c.RetentionInterval)
	case c.GCPercent < 0:
		return bad("gc_percent", "%d is negative", c.GCPercent)
	case c.MemoryLimit < 0:
		return bad("memory_limit", "%s is negative", c.MemoryLimit)
	case c.MemoryLimit > 0 && c.MemoryLimit < 64<<20:
		return bad("memory_limit", "%s is below the minimum of 64MiB", c.MemoryLimit)
	case c.MinFreeDiskBytes < 0:
		return bad("min_free_disk_bytes", "%s is negative", c.MinFreeDiskBytes)
	case c.DiskCheckInterval <= 0:
		return bad("disk_check_interval", "%s is not positive", c.DiskCheckInterval)
	case c.MaxRequestBytes < 1<<10:
		return bad("max_request_bytes", "%s is below the minimum of 1KiB", c.MaxRequestBytes)
	case c.ShutdownTimeout <= 0:
		return bad("shutdown_timeout", "%s is not positive", c.ShutdownTimeout)
	}
	d := c.DefaultTopic
	switch {
	case d.Partitions < 1 || d.Partitions > 100000:
		return bad("default_topic.partitions", "%d is not in 1..100000", d.Partitions)
	case d.RetentionMs < -1:
		return bad("default_topic.retention_ms", "%d: want -1 (unlimited) or more", d.RetentionMs)
	case d.RetentionBytes < -1:
		return bad("default_topic.retention_bytes", "%d: want -1 (unlimited) or more", d.RetentionBytes)
	case d.SegmentBytes < 0:
		return bad("default_topic.segment_bytes", "%s is negative", d.SegmentBytes)
	case d.MaxMessageBytes < 0:
		return bad("default_topic.max_message_bytes", "%s is negative", d.MaxMessageBytes)
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT: %w", addr, err)
	}
	if host != "" && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q has a bad host %q", addr, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has a bad port %q (want 0..65535)", addr, port)
	}
	return nil
}

// ParseLevel reads a log level: debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil || s == "" {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// TopicConfig returns the default topic configuration as the log takes it.
func (c *Config) TopicConfig() millrace.TopicConfig {
	return millrace.TopicConfig{
		RetentionMs:     c.DefaultTopic.RetentionMs,
		RetentionBytes:  c.DefaultTopic.RetentionBytes,
		SegmentBytes:    int64(c.DefaultTopic.SegmentBytes),
		MaxMessageBytes: int64(c.DefaultTopic.MaxMessageBytes),
	}
}

// LogOptions returns the millrace.Options for this configuration. FS,
// Logger and Now are left for the caller.
func (c *Config) LogOptions() millrace.Options {
	tc := c.TopicConfig()
	return millrace.Options{
		Dir:                 filepath.Clean(c.Data),
		Shards:              c.Shards,
		Fsync:               c.Fsync,
		SegmentBytes:        int64(c.SegmentBytes),
		SegmentAge:          time.Duration(c.SegmentAge),
		MaxPendingBytes:     int64(c.MaxPendingBytes),
		TailCacheBytes:      int64(c.TailCacheBytes),
		IndexCacheBytes:     int64(c.IndexCacheBytes),
		UnwaitedSyncDelay:   time.Duration(c.FsyncUnwaitedDelay),
		FlusherNice:         c.FlusherNice,
		DropSealedPageCache: c.DropSealedPageCache,
		PreallocateSegments: c.PreallocateSegments,
		DisableAutoCreate:   !c.AutoCreate,
		DefaultPartitions:   c.DefaultTopic.Partitions,
		DefaultConfig:       &tc,
		RetentionInterval:   time.Duration(c.RetentionInterval),
	}
}

// ErrHelp is returned by Load when -h or --help was given; the usage has
// been printed.
var ErrHelp = errors.New("help requested")
