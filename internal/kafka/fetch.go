package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// isolationReadCommitted is Fetch's and ListOffsets' IsolationLevel for
// read_committed: millrace serves such readers only fsynced records, and
// reports the durable watermark as the last stable offset.
const isolationReadCommitted = 1

// noRecords is an empty, non-null record set.
var noRecords = []byte{}

// fetchPart is one partition of a fetch, resolved once.
type fetchPart struct {
	topic string // "" if the topic id is unknown
	rp    *kmsg.FetchResponseTopicPartition
	req   *kmsg.FetchRequestTopicPartition
	next  int64 // offset to wait on when there is not enough data
}

// handleFetch serves a fetch: stored batches go into the response as they
// are. If there is less than MinBytes, it waits up to MaxWaitMillis for an
// append to any fetched partition (woken by Log.Wait, not by polling) and
// reads again. Fetch sessions are not kept: every response carries session
// id 0, which tells clients to send full fetch requests.
func handleFetch(s *Server, r *request) {
	req := r.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.SessionID != 0 {
		// We never handed out a session; the client starts over.
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		r.respond(resp)
		return
	}
	parts := s.fetchLayout(req, resp)
	total, failed := s.fetchRead(req, parts)
	if s.fetchDone(req, total, failed) {
		r.respond(resp)
		return
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	s.goAsync(r, func() {
		for {
			woke := s.fetchWait(r.c.ctx, req, parts, deadline)
			total, failed = s.fetchRead(req, parts)
			if !woke || s.fetchDone(req, total, failed) {
				break
			}
		}
		r.respond(resp)
	})
}

// fetchDone says whether a fetch can be answered now.
func (s *Server) fetchDone(req *kmsg.FetchRequest, total int, failed bool) bool {
	return failed || total >= int(req.MinBytes) || total > 0 && req.MinBytes <= 0 || req.MaxWaitMillis <= 0 || s.closing.Load()
}

// fetchLayout builds the response skeleton, one entry per requested
// partition, resolving topic ids (v13+).
func (s *Server) fetchLayout(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) []fetchPart {
	var parts []fetchPart
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		t := &req.Topics[ti]
		rt := &resp.Topics[ti]
		rt.Default()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name := t.Topic
		if req.Version >= 13 {
			var err error
			if name, err = s.topicName(t.TopicID); err != nil {
				name = ""
			}
		}
		rt.Partitions = make([]kmsg.FetchResponseTopicPartition, len(t.Partitions))
		for pi := range t.Partitions {
			rp := &rt.Partitions[pi]
			rp.Default()
			rp.Partition = t.Partitions[pi].Partition
			parts = append(parts, fetchPart{topic: name, rp: rp, req: &t.Partitions[pi], next: t.Partitions[pi].FetchOffset})
		}
	}
	return parts
}

// fetchRead reads every partition into the response, within the
// partitions' and the response's byte limits, and returns the bytes read
// and whether the response must go now: a partition failed (errors are
// answered at once) or the response is full.
func (s *Server) fetchRead(req *kmsg.FetchRequest, parts []fetchPart) (total int, now bool) {
	durableOnly := req.IsolationLevel == isolationReadCommitted
	limit := int(s.cfg.MaxFetchBytes)
	if req.Version >= 3 && req.MaxBytes > 0 {
		limit = min(limit, int(req.MaxBytes))
	}
	for i := range parts {
		fp := &parts[i]
		rp := fp.rp
		// Empty, never null: librdkafka rejects a null record set.
		rp.RecordBatches = noRecords
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		rp.PreferredReadReplica = -1
		rp.ErrorCode = 0
		switch {
		case fp.topic == "" && req.Version >= 13:
			rp.ErrorCode, now = kerr.UnknownTopicID.Code, true
			continue
		case !leaderEpochOK(fp.req.CurrentLeaderEpoch):
			rp.ErrorCode, now = kerr.UnknownLeaderEpoch.Code, true
			continue
		}
		remaining := limit - total
		if remaining <= 0 {
			// Over the response limit: report the watermarks only.
			now = true
			start, high, durable, err := s.log.Watermarks(fp.topic, rp.Partition)
			if err != nil {
				rp.ErrorCode, now = errorCode(err), true
				continue
			}
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = high, durable, start
			continue
		}
		max := remaining
		if fp.req.PartitionMaxBytes > 0 {
			max = min(max, int(fp.req.PartitionMaxBytes))
		}
		data, res, err := s.log.ReadBatches(fp.topic, rp.Partition, fp.req.FetchOffset, max, durableOnly, readBuf())
		if err != nil {
			putReadBuf(data)
			rp.ErrorCode, now = errorCode(err), true
			if rp.ErrorCode == kerr.OffsetOutOfRange.Code {
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.DurableOffset, res.LogStartOffset
			}
			continue
		}
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.DurableOffset, res.LogStartOffset
		if total > 0 && len(data) > remaining {
			// Only the first partition with data may pass the response
			// limit (KIP-74); this one waits for the next fetch.
			putReadBuf(data)
			now = true
			continue
		}
		if len(data) > 0 {
			rp.RecordBatches = data
		} else {
			putReadBuf(data) // nothing new: the buffer goes back unused
		}
		total += len(data)
		fp.next = res.NextOffset
	}
	return total, now
}

// fetchWait waits until any fetched partition has data past what was read,
// the deadline passes, the connection goes or the server shuts down. It
// returns false when there is no point reading again.
func (s *Server) fetchWait(connCtx context.Context, req *kmsg.FetchRequest, parts []fetchPart, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(connCtx, deadline)
	defer cancel()
	durableOnly := req.IsolationLevel == isolationReadCommitted
	woke := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for i := range parts {
		fp := &parts[i]
		if fp.topic == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.log.Wait(ctx, fp.topic, fp.rp.Partition, fp.next, durableOnly); err == nil || ctx.Err() == nil {
				select {
				case woke <- struct{}{}:
				default:
				}
			}
		}()
	}
	defer func() {
		cancel() // before waiting: the waiters end on it
		wg.Wait()
	}()
	select {
	case <-woke:
		return true
	case <-ctx.Done():
		return false
	case <-s.quit:
		return false
	}
}

// leaderEpochOK checks a client's idea of the leader epoch: a single node
// is always at epoch 0, and -1 means the client does not know.
func leaderEpochOK(epoch int32) bool { return epoch <= 0 }

// Record-batch buffers of Fetch responses are recycled: the connection's
// writer hands them back (releaseFetch) once the response is sent, so that
// a catch-up reader does not allocate, and zero, a fresh buffer per
// partition per fetch.
var readBufs sync.Pool

// minPooledRead and maxPooledRead bound the buffers kept for reuse.
const (
	minPooledRead = 64 << 10
	maxPooledRead = 16 << 20
)

// readBuf returns an empty buffer to read batches into, nil if none is
// pooled (ReadBatches then allocates one).
func readBuf() []byte {
	if b, ok := readBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// releaseFetch gives the record buffers of a sent Fetch response back for
// reuse. Nothing may touch resp's record batches afterwards.
func releaseFetch(resp *kmsg.FetchResponse) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			putReadBuf(t.Partitions[j].RecordBatches)
			t.Partitions[j].RecordBatches = nil
		}
	}
}

// putReadBuf keeps a record buffer nothing refers to any more for reuse,
// if it is of a size worth keeping.
func putReadBuf(b []byte) {
	if c := cap(b); c >= minPooledRead && c <= maxPooledRead {
		b = b[:0]
		readBufs.Put(&b)
	}
}
