package bench

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// meter counts records, bytes and errors and keeps the latency histogram.
type meter struct {
	records, bytes, errors atomic.Int64
	shed                   atomic.Int64 // requests refused by load shedding (HTTP 429)
	hist                   *Histogram
	// service, in fixed-rate HTTP runs, holds latency from the actual send
	// (what the server took), beside hist's from the intended send time.
	service *Histogram
}

func (m *meter) add(records, bytes int64) {
	m.records.Add(records)
	m.bytes.Add(bytes)
}

// progress prints a line per second to w until the returned stop is
// called; stop waits for the printer goroutine to end.
func (m *meter) progress(w io.Writer, mode string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prevN, prevH, prevT := int64(0), m.hist.Snapshot(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n, h := m.records.Load(), m.hist.Snapshot()
				d := h.Sub(prevH)
				rate := float64(n-prevN) / now.Sub(prevT).Seconds()
				fmt.Fprintf(w, "%s: %10.0f records/s  total %d  p50 %v  p99 %v  errors %d\n",
					mode, rate, n, d.Quantile(0.5), d.Quantile(0.99), m.errors.Load())
				prevN, prevH, prevT = n, h, now
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (m *meter) result(o Options, elapsed time.Duration) Result {
	r := Result{Mode: o.Mode, Transport: o.Transport, Records: m.records.Load(), Bytes: m.bytes.Load(),
		Errors: m.errors.Load(), Shed: m.shed.Load(), Seconds: elapsed.Seconds()}
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(r.Records) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / r.Seconds / 1e6
	}
	h := m.hist
	r.P50, r.P90, r.P99, r.P999 = h.Quantile(0.5).Microseconds(), h.Quantile(0.9).Microseconds(),
		h.Quantile(0.99).Microseconds(), h.Quantile(0.999).Microseconds()
	r.Max = h.Max().Microseconds()
	if m.service != nil && m.service.Count() > 0 {
		r.ServiceP50, r.ServiceP99 = m.service.Quantile(0.5).Microseconds(), m.service.Quantile(0.99).Microseconds()
	}
	return r
}

// WriteTable prints a result as a small table.
func (r Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-10s %-9s %12s %12s %10s %9s %9s %9s %9s %9s %8s %8s\n",
		"mode", "transport", "records", "records/s", "MB/s", "p50", "p90", "p99", "p99.9", "max", "errors", "shed")
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	fmt.Fprintf(w, "%-10s %-9s %12d %12.0f %10.1f %9s %9s %9s %9s %9s %8d %8d\n",
		r.Mode, r.Transport, r.Records, r.RecordsPerSec, r.MBPerSec, us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.Max), r.Errors, r.Shed)
}
