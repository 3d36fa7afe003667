package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records latencies in microseconds in log-linear buckets, HDR
// style: 64 buckets per power of two, so a percentile is within 1.6% of the
// true value, from 1 µs to hours, in a fixed 20 KB. Record is lock-free and
// safe for concurrent use; it never samples.
type Histogram struct {
	counts [64 + 40*64]atomic.Int64
	max    atomic.Int64
	n      atomic.Int64
}

func bucketOf(us int64) int {
	if us < 128 {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 7 // >= 1
	sub := us >> e                  // 64..127
	i := 64 + e*64 + int(sub-64)
	if i >= len(Histogram{}.counts) {
		return len(Histogram{}.counts) - 1
	}
	return i
}

// lowerBound is the smallest value in bucket i.
func lowerBound(i int) int64 {
	if i < 128 {
		return int64(i)
	}
	e := (i - 64) / 64
	sub := int64((i-64)%64 + 64)
	return sub << e
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count returns the number of latencies recorded.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Quantile returns the latency at quantile q (0..1).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(lowerBound(i)) * time.Microsecond
		}
	}
	return h.Max()
}

// Max returns the largest latency recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Snapshot copies the histogram, for a progress line over an interval.
func (h *Histogram) Snapshot() *Histogram {
	s := new(Histogram)
	for i := range h.counts {
		s.counts[i].Store(h.counts[i].Load())
	}
	s.n.Store(h.n.Load())
	s.max.Store(h.max.Load())
	return s
}

// Sub returns h minus an earlier snapshot of it: the latencies recorded in
// between (Max is h's).
func (h *Histogram) Sub(earlier *Histogram) *Histogram {
	s := new(Histogram)
	for i := range h.counts {
		s.counts[i].Store(h.counts[i].Load() - earlier.counts[i].Load())
	}
	s.n.Store(h.n.Load() - earlier.n.Load())
	s.max.Store(h.max.Load())
	return s
}
