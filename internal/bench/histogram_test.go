package bench

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestHistogramQuantilesAreWithinTwoPercent(t *testing.T) {
	var h Histogram
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []int64
	for range 100000 {
		v := int64(rng.ExpFloat64() * 2000) // µs, long tail
		vals = append(vals, v)
		h.Record(time.Duration(v) * time.Microsecond)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q).Microseconds()
		if diff := float64(got-want) / float64(max(want, 1)); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.3f = %d µs, exact %d µs", q, got, want)
		}
	}
	if h.Count() != 100000 || h.Max().Microseconds() != vals[len(vals)-1] {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	for us := int64(0); us < 1<<22; us += 1 + us/1000 {
		b := bucketOf(us)
		if lowerBound(b) > us {
			t.Fatalf("value %d in bucket %d whose lower bound is %d", us, b, lowerBound(b))
		}
		if b+1 < len(Histogram{}.counts) && lowerBound(b+1) <= us {
			t.Fatalf("value %d in bucket %d but bucket %d starts at %d", us, b, b+1, lowerBound(b+1))
		}
	}
}
