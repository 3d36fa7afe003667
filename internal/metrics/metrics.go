// Package metrics is millrace's Prometheus instrumentation: the counters
// and histograms the HTTP API and the server update as they work, and the
// gauges read from the Log (topics, partitions, segments, pending bytes)
// and the data directory (disk usage, free space) at scrape time. It owns
// its registry: nothing is registered globally.
//
// Topic labels are bounded: past MaxTopicLabels distinct topics, further
// topics are counted under the label "_other", so that a million
// auto-created topics cannot blow up a scrape.
package metrics

import (
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/millrace/millrace"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxTopicLabels bounds the distinct topic label values.
const MaxTopicLabels = 1000

// OtherTopic is the label of topics past MaxTopicLabels.
const OtherTopic = "_other"

// Source is what the scrape-time gauges read. Every field may be zero.
type Source struct {
	Log      *millrace.Log
	DataDir  string
	ReadOnly func() bool
	// FreeBytes returns the free space last measured on the data
	// directory's file system, and whether it has been measured.
	FreeBytes func() (uint64, bool)
}

// Metrics holds millrace's metrics and their registry. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	appendRecords, appendBytes *prometheus.CounterVec
	readRecords, readBytes     *prometheus.CounterVec
	httpDuration               *prometheus.HistogramVec
	kafkaDuration              *prometheus.HistogramVec
	shed                       *prometheus.CounterVec
	retentionPasses            prometheus.Counter
	retentionPartitions        prometheus.Counter
	retentionSegments          prometheus.Counter
	flush                      *flushMetrics

	mu     sync.Mutex // guards topics
	topics map[string]bool
}

// New creates the metrics and registers them, the Go runtime and process
// collectors, and the gauges read from src, on a new registry.
func New(src Source) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), topics: make(map[string]bool)}
	m.flush = newFlushMetrics(m.reg)
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "millrace", Name: name, Help: help}, labels)
	}
	m.appendRecords = counter("append_records_total", "Records appended, by topic.", "topic")
	m.appendBytes = counter("append_bytes_total", "Bytes of keys, values and headers appended, by topic.", "topic")
	m.readRecords = counter("read_records_total", "Records served to readers, by topic.", "topic")
	m.readBytes = counter("read_bytes_total", "Bytes of keys, values and headers served to readers, by topic.", "topic")
	m.shed = counter("shed_requests_total", "Requests refused to protect the server: overloaded (429) or read_only (503).", "reason")
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "millrace", Name: "http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern and status code (streams count until they end).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "code"})
	m.kafkaDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "millrace", Name: "kafka_request_duration_seconds",
		Help:    "Kafka protocol request latency by API, from the request read whole to its response written (long-poll fetches count their wait).",
		Buckets: prometheus.ExponentialBuckets(0.00005, 1.5, 30), // 50 µs .. 6.4 s, each 1.5× the last
	}, []string{"api"})
	m.retentionPasses = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "millrace", Name: "retention_passes_total", Help: "Retention passes run."})
	m.retentionPartitions = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "millrace", Name: "retention_partitions_advanced_total",
		Help: "Partition log starts moved forward by retention."})
	m.retentionSegments = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "millrace", Name: "retention_segments_deleted_total",
		Help: "Commit-log segment files deleted by retention."})
	m.reg.MustRegister(m.appendRecords, m.appendBytes, m.readRecords, m.readBytes, m.shed, m.httpDuration, m.kafkaDuration,
		m.retentionPasses, m.retentionPartitions, m.retentionSegments,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&logCollector{src: src})
	return m
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// topicLabel returns the label value for topic, bounded by MaxTopicLabels.
func (m *Metrics) topicLabel(topic string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.topics[topic] {
		return topic
	}
	if len(m.topics) >= MaxTopicLabels {
		return OtherTopic
	}
	m.topics[topic] = true
	return topic
}

// Appended counts records appended to topic and their bytes.
func (m *Metrics) Appended(topic string, records, bytes int) {
	l := m.topicLabel(topic)
	m.appendRecords.WithLabelValues(l).Add(float64(records))
	m.appendBytes.WithLabelValues(l).Add(float64(bytes))
}

// Read counts records served from topic and their bytes.
func (m *Metrics) Read(topic string, records, bytes int) {
	if records == 0 {
		return
	}
	l := m.topicLabel(topic)
	m.readRecords.WithLabelValues(l).Add(float64(records))
	m.readBytes.WithLabelValues(l).Add(float64(bytes))
}

// ForgetTopic drops a deleted topic's series and frees its label.
func (m *Metrics) ForgetTopic(topic string) {
	m.mu.Lock()
	known := m.topics[topic]
	delete(m.topics, topic)
	m.mu.Unlock()
	if !known {
		return
	}
	for _, v := range []*prometheus.CounterVec{m.appendRecords, m.appendBytes, m.readRecords, m.readBytes} {
		v.DeleteLabelValues(topic)
	}
}

// ObserveHTTP records one HTTP request's latency.
func (m *Metrics) ObserveHTTP(route string, code int, d time.Duration) {
	m.httpDuration.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

// ObserveKafka records one Kafka protocol request's latency, as reported
// by the Kafka listener's OnRequest hook.
func (m *Metrics) ObserveKafka(api string, d time.Duration) {
	m.kafkaDuration.WithLabelValues(api).Observe(d.Seconds())
}

// Shed counts a refused request; reason is "overloaded" or "read_only".
func (m *Metrics) Shed(reason string) { m.shed.WithLabelValues(reason).Inc() }

// Retention counts one retention pass.
func (m *Metrics) Retention(rep millrace.RetentionReport) {
	m.retentionPasses.Inc()
	m.retentionPartitions.Add(float64(rep.Partitions))
	m.retentionSegments.Add(float64(rep.SegmentsDeleted))
}

// logCollector reads gauges from the Log and the data directory at scrape
// time.
type logCollector struct{ src Source }

var (
	descTopics       = prometheus.NewDesc("millrace_topics", "Topics.", nil, nil)
	descPartitions   = prometheus.NewDesc("millrace_partitions", "Partitions of all topics.", nil, nil)
	descSegments     = prometheus.NewDesc("millrace_segments", "Commit-log segment files, by shard.", []string{"shard"}, nil)
	descSegmentBytes = prometheus.NewDesc("millrace_segment_bytes", "Bytes of entries in commit-log segments, by shard.", []string{"shard"}, nil)
	descPending      = prometheus.NewDesc("millrace_pending_bytes", "Bytes accepted but not yet persisted, by shard (load shedding starts at max_pending_bytes).", []string{"shard"}, nil)
	descFailed       = prometheus.NewDesc("millrace_shard_failed", "1 if the shard's commit log failed a write or fsync and refuses appends.", []string{"shard"}, nil)
	descDiskUsage    = prometheus.NewDesc("millrace_disk_usage_bytes", "Bytes of disk used by the data directory.", nil, nil)
	descDiskFree     = prometheus.NewDesc("millrace_disk_free_bytes", "Free bytes on the data directory's file system, as last checked.", nil, nil)
	descReadOnly     = prometheus.NewDesc("millrace_read_only", "1 while writes are refused for lack of free disk.", nil, nil)
	descIndexBatches = prometheus.NewDesc("millrace_index_batches", "Stored batches the partitions' indexes locate.", nil, nil)
	descIndexInMem   = prometheus.NewDesc("millrace_index_batches_in_memory", "Stored batches whose index entries are held in memory (the rest are read back from sealed segments' index files).", nil, nil)
	descIndexCache   = prometheus.NewDesc("millrace_index_cache_bytes", "Memory held by sealed segments' index entries read back for reads of older data (bounded by index_cache_bytes).", nil, nil)
	descIndexLoads   = prometheus.NewDesc("millrace_index_cache_loads_total", "Sealed segments' index entries read back from disk.", nil, nil)
)

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTopics, descPartitions, descSegments, descSegmentBytes, descPending, descFailed, descDiskUsage, descDiskFree, descReadOnly,
		descIndexBatches, descIndexInMem, descIndexCache, descIndexLoads} {
		ch <- d
	}
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.src.Log != nil {
		st := c.src.Log.Stats()
		gauge(descTopics, float64(st.Topics))
		gauge(descPartitions, float64(st.Partitions))
		gauge(descIndexBatches, float64(st.IndexBatches))
		gauge(descIndexInMem, float64(st.IndexBatchesInMemory))
		gauge(descIndexCache, float64(st.IndexCacheBytes))
		ch <- prometheus.MustNewConstMetric(descIndexLoads, prometheus.CounterValue, float64(st.IndexCacheLoads))
		for _, s := range st.Shards {
			id := strconv.Itoa(int(s.Shard))
			gauge(descSegments, float64(s.Segments), id)
			gauge(descSegmentBytes, float64(s.SegmentBytes), id)
			gauge(descPending, float64(s.PendingBytes), id)
			failed := 0.0
			if s.Failed {
				failed = 1
			}
			gauge(descFailed, failed, id)
		}
	}
	if c.src.DataDir != "" {
		gauge(descDiskUsage, float64(DirUsage(c.src.DataDir)))
	}
	if c.src.FreeBytes != nil {
		if free, ok := c.src.FreeBytes(); ok {
			gauge(descDiskFree, float64(free))
		}
	}
	if c.src.ReadOnly != nil {
		ro := 0.0
		if c.src.ReadOnly() {
			ro = 1
		}
		gauge(descReadOnly, ro)
	}
}

// DirUsage returns the disk space used by the files under dir: allocated
// blocks where the platform reports them (preallocated segment space
// counts), else file sizes. Unreadable entries are skipped.
func DirUsage(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += int64(st.Blocks) * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total
}
