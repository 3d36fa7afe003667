package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// httpRunner drives a server over its HTTP API: NDJSON appends of Batch
// records per request, and partition reads.
type httpRunner struct {
	o      Options
	client *http.Client
}

func (h *httpRunner) setup(ctx context.Context) error {
	h.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: h.o.Producers + int(h.o.Partitions) + 4}}
	body, _ := json.Marshal(map[string]any{"name": h.o.Topic, "partitions": h.o.Partitions})
	resp, err := h.do(ctx, "POST", "/v1/topics", "application/json", body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("bench: create topic %q: HTTP %d", h.o.Topic, resp.StatusCode)
	}
	return nil
}

func (h *httpRunner) close() { h.client.CloseIdleConnections() }

func (h *httpRunner) do(ctx context.Context, method, path, ctype string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(h.o.HTTPURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// ndjson builds a request body of n records whose values are size bytes;
// with sent set, each value starts with the send time in ns (19 digits).
func ndjson(dst []byte, n, size int, sent time.Time) []byte {
	pad := strings.Repeat("x", max(size-19, 0))
	for range n {
		dst = append(dst, `{"value":"`...)
		if !sent.IsZero() {
			dst = append(dst, fmt.Sprintf("%019d", sent.UnixNano())...)
			dst = append(dst, pad...)
		} else {
			dst = append(dst, pad...)
			dst = append(dst, strings.Repeat("x", min(size, 19))...)
		}
		dst = append(dst, "\"}\n"...)
	}
	return dst
}

func (h *httpRunner) ack() string {
	if h.o.Acks == "memory" || h.o.Acks == "leader" || h.o.Acks == "1" {
		return "memory"
	}
	return "durable"
}

// produce posts batches from Producers connections; latency is per
// request, from the intended send time in a fixed-rate run.
func (h *httpRunner) produce(ctx context.Context, m *meter, rate int) error {
	return h.produceWith(ctx, m, rate, false)
}

func (h *httpRunner) produceWith(ctx context.Context, m *meter, rate int, stamp bool) error {
	reqRate := 0
	if rate > 0 {
		reqRate = max(rate/h.o.Batch, 1)
	}
	sched := newSchedule(reqRate)
	if sched != nil && m.service == nil {
		m.service = new(Histogram)
	}
	path := "/v1/topics/" + url.PathEscape(h.o.Topic) + "/records?ack=" + h.ack()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, h.o.Producers)
	for w := range h.o.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := ndjson(nil, h.o.Batch, h.o.RecordSize, time.Time{})
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if h.o.Count > 0 && i*int64(h.o.Batch) >= h.o.Count {
					return
				}
				at := time.Now()
				if sched != nil {
					var ok bool
					if at, ok = sched.wait(ctx, i); !ok {
						return
					}
				}
				if stamp {
					body = ndjson(body[:0], h.o.Batch, h.o.RecordSize, at)
				}
				sent := time.Now()
				resp, err := h.do(ctx, "POST", path, "application/x-ndjson", body)
				if err != nil {
					if ctx.Err() == nil {
						errs[w] = err
					}
					return
				}
				if resp.StatusCode == http.StatusTooManyRequests {
					m.shed.Add(1)
					continue
				}
				if resp.StatusCode != http.StatusOK {
					m.errors.Add(1)
					continue
				}
				m.hist.Record(time.Since(at))
				if m.service != nil {
					m.service.Record(time.Since(sent))
				}
				m.add(int64(h.o.Batch), int64(h.o.Batch*h.o.RecordSize))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

type readResponse struct {
	Records []struct {
		Value string `json:"value"`
	} `json:"records"`
	NextOffset    int64 `json:"next_offset"`
	HighWatermark int64 `json:"high_watermark"`
}

// readPartition reads one partition from offset until stop says so.
func (h *httpRunner) readPartition(ctx context.Context, part int32, offset int64, waitMs int, each func(value string), stop func(next, hw int64) bool) error {
	for ctx.Err() == nil {
		u := fmt.Sprintf("%s/v1/topics/%s/partitions/%d/records?offset=%d&limit=10000&max_bytes=%d",
			strings.TrimSuffix(h.o.HTTPURL, "/"), url.PathEscape(h.o.Topic), part, offset, 8<<20)
		if waitMs > 0 {
			u += "&wait_ms=" + strconv.Itoa(waitMs)
		}
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return err
		}
		resp, err := h.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bench: read partition %d: %w", part, err)
		}
		var rr readResponse
		err = json.NewDecoder(resp.Body).Decode(&rr)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: read partition %d at %d: HTTP %d %v", part, offset, resp.StatusCode, err)
		}
		for _, r := range rr.Records {
			each(r.Value)
		}
		offset = rr.NextOffset
		if stop(offset, rr.HighWatermark) {
			return nil
		}
	}
	return nil
}

// consume reads every partition from its log start to the high watermark
// it had when the run began, one connection per partition.
func (h *httpRunner) consume(ctx context.Context, m *meter, count int64) error {
	parts, err := h.partitions(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, p := range parts {
		if p.HighWatermark <= p.LogStartOffset {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.readPartition(ctx, p.Partition, p.LogStartOffset, 0,
				func(v string) { m.add(1, int64(len(v))) },
				func(next, _ int64) bool { return next >= p.HighWatermark || (count > 0 && m.records.Load() >= count) })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

type partitionState struct {
	Partition      int32 `json:"partition"`
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
}

func (h *httpRunner) partitions(ctx context.Context) ([]partitionState, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(h.o.HTTPURL, "/")+"/v1/topics/"+url.PathEscape(h.o.Topic), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: describe topic %q: %w", h.o.Topic, err)
	}
	defer resp.Body.Close()
	var t struct {
		Parts []partitionState `json:"partition_info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: describe topic %q: HTTP %d %v", h.o.Topic, resp.StatusCode, err)
	}
	return t.Parts, nil
}

// e2e follows every partition with long polls while producing at the
// fixed rate; each value starts with its intended send time.
func (h *httpRunner) e2e(ctx context.Context, m *meter) error {
	parts, err := h.partitions(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.readPartition(cctx, p.Partition, p.HighWatermark, 500, func(v string) {
				if len(v) >= 19 {
					if ns, err := strconv.ParseInt(v[:19], 10, 64); err == nil {
						m.hist.Record(time.Since(time.Unix(0, ns)))
						m.add(1, int64(len(v)))
					}
				}
			}, func(int64, int64) bool { return false })
		}()
	}
	pm := &meter{hist: new(Histogram)}
	perr := h.produceWith(ctx, pm, h.o.Rate, true)
	deadline := time.Now().Add(10 * time.Second)
	for m.records.Load() < pm.records.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	m.errors.Add(pm.errors.Load())
	return perr
}
