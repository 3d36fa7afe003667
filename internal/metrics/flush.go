package metrics

import (
	"strconv"

	"github.com/millrace/millrace"
	"github.com/prometheus/client_golang/prometheus"
)

// flushMetrics are fed by the engine's OnFlush hook, once per group commit.
type flushMetrics struct {
	fsyncSeconds  *prometheus.HistogramVec // by shard
	writeSeconds  *prometheus.HistogramVec // by shard
	groupAppends  prometheus.Histogram     // appends made durable by one fsync
	groupBytes    prometheus.Histogram
	flushFailures *prometheus.CounterVec // by shard
}

func newFlushMetrics(reg prometheus.Registerer) *flushMetrics {
	f := &flushMetrics{
		fsyncSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "millrace", Name: "fsync_duration_seconds",
			Help:    "Time of each group commit's fdatasync, by shard.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 1.5, 26), // 50 µs .. 1.3 s, each 1.5× the last
		}, []string{"shard"}),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "millrace", Name: "flush_write_duration_seconds",
			Help:    "Time of each group commit's writes (and any segment seal or creation among them), by shard.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 1.5, 26), // 50 µs .. 1.3 s
		}, []string{"shard"}),
		groupAppends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "millrace", Name: "group_commit_appends",
			Help:    "Appends (batches) made durable together by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 .. 8192
		}),
		groupBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "millrace", Name: "group_commit_bytes",
			Help:    "Bytes made durable together by one group commit.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 12), // 256 B .. 1 GiB
		}),
		flushFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "millrace", Name: "flush_failures_total",
			Help: "Group commits whose write or fsync failed, by shard.",
		}, []string{"shard"}),
	}
	reg.MustRegister(f.fsyncSeconds, f.writeSeconds, f.groupAppends, f.groupBytes, f.flushFailures)
	return f
}

// Flush records one group commit of a shard, as reported by the engine's
// Options.OnFlush hook.
func (m *Metrics) Flush(shard int32, f millrace.FlushInfo) {
	label := strconv.Itoa(int(shard))
	if f.Err != nil {
		m.flush.flushFailures.WithLabelValues(label).Inc()
		return
	}
	m.flush.writeSeconds.WithLabelValues(label).Observe(f.Write.Seconds())
	if f.Sync > 0 {
		m.flush.fsyncSeconds.WithLabelValues(label).Observe(f.Sync.Seconds())
	}
	m.flush.groupAppends.Observe(float64(f.Appends))
	m.flush.groupBytes.Observe(float64(f.Bytes))
}
