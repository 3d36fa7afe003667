package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

// defaultProduceTimeout bounds the wait for durability when a request says
// no timeout.
const defaultProduceTimeout = 30 * time.Second

// durableWait is one appended batch whose fsync the response waits for.
type durableWait struct {
	rp    *kmsg.ProduceResponseTopicPartition
	topic string
	part  int32
	d     millrace.Durability
}

// handleProduce appends each partition's batch in request order, on the
// connection's reader goroutine, so that pipelined requests of an
// idempotent producer reach the log in the order they were sent. Appends
// return once the log accepted the batch (AckMemory); for acks=all (and
// acks=1 with AcksOneWaitsForFsync) a goroutine then waits for each
// batch's own durability (one fsync of each shard covers them all); a batch
// whose write or fsync failed is answered with KAFKA_STORAGE_ERROR, never
// acknowledged.
func handleProduce(s *Server, r *request) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := r.c.produceResponse(req)
	durable := req.Acks == -1 || (req.Acks == 1 && s.cfg.AcksOneWaitsForFsync)
	var waits []durableWait
	var throttle time.Duration
	resp.Topics = slices.Grow(resp.Topics[:0], len(req.Topics))[:len(req.Topics)]
	for ti := range req.Topics {
		t := &req.Topics[ti]
		rt := &resp.Topics[ti]
		parts := rt.Partitions[:0]
		*rt = kmsg.ProduceResponseTopic{}
		rt.Default()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.Partitions = slices.Grow(parts, len(t.Partitions))[:len(t.Partitions)]
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			rp := &rt.Partitions[pi]
			*rp = kmsg.ProduceResponseTopicPartition{}
			rp.Default()
			rp.Partition = p.Partition
			res, d, err := s.produceOne(r.version, req, t.Topic, p)
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
				throttle = max(throttle, millrace.RetryAfter(err))
				if s.cfg.OnShed != nil && errors.Is(err, millrace.ErrOverloaded) {
					s.cfg.OnShed()
				}
				s.logger.Debug("kafka: produce failed", "topic", t.Topic, "partition", p.Partition, "remote", r.c.remote, "err", err)
				continue
			}
			rp.BaseOffset, rp.LogStartOffset = res.BaseOffset, res.LogStartOffset
			if durable {
				waits = append(waits, durableWait{rp: rp, topic: t.Topic, part: p.Partition, d: d})
			}
		}
	}
	resp.ThrottleMillis = int32(throttle / time.Millisecond)
	switch {
	case req.Acks == 0:
		r.noResponse()
	case len(waits) == 0:
		r.respond(resp)
	default:
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = defaultProduceTimeout
		}
		awaitDurable(r, resp, waits, timeout)
	}
}

// produceAnswer collects the fsyncs one produce request waits for and
// answers it once the last is in, or at its timeout with what is missing
// marked timed out, whichever comes first. Its callbacks run on the commit
// logs' flushers (Durability.Notify), so no goroutine waits per request and
// the answer is one wake-up (the connection's writer) from the fsync.
type produceAnswer struct {
	r     *request
	resp  *kmsg.ProduceResponse
	waits []durableWait

	mu       sync.Mutex // guards everything below, and the fields of waits' rp
	left     int        // waits not yet in
	in       []bool     // which waits are in
	answered bool
	timer    *time.Timer
}

// awaitDurable answers r with resp once every wait's batch is durable. A
// duplicate's wait (a goroutine, the only use of Notify's context) ends
// when its original is durable or lost, or with the connection; one that
// outlives the answer finds it given and does nothing.
func awaitDurable(r *request, resp *kmsg.ProduceResponse, waits []durableWait, timeout time.Duration) {
	a := &produceAnswer{r: r, resp: resp, waits: waits, left: len(waits), in: make([]bool, len(waits))}
	a.mu.Lock()
	a.timer = time.AfterFunc(timeout, a.expire)
	a.mu.Unlock()
	for i := range waits {
		waits[i].d.Notify(r.c.ctx, func(err error) { a.finish(i, err) })
	}
}

// finish records wait i's outcome and answers if it was the last.
func (a *produceAnswer) finish(i int, err error) {
	// On a commit log's flusher: a panic here closes this connection
	// only (deferred first, so it runs after the unlock).
	defer a.r.c.recoverPanic("produce answer")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered || a.in[i] {
		return
	}
	a.in[i] = true
	if err != nil {
		a.fail(i, fmt.Errorf("waiting for fsync: %w", err))
	}
	if a.left--; a.left == 0 {
		a.answerLocked()
	}
}

// expire answers at the request's timeout, each batch not yet durable
// marked timed out.
func (a *produceAnswer) expire() {
	defer a.r.c.recoverPanic("produce answer timeout")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered {
		return
	}
	for i := range a.waits {
		if !a.in[i] {
			a.fail(i, fmt.Errorf("waiting for fsync: %w", context.DeadlineExceeded))
		}
	}
	a.answerLocked()
}

// fail marks wait i's partition failed with err. a.mu is held.
func (a *produceAnswer) fail(i int, err error) {
	w := &a.waits[i]
	err = fmt.Errorf("kafka: produce to %s/%d at offset %d: %w", w.topic, w.part, w.rp.BaseOffset, err)
	w.rp.ErrorCode, w.rp.ErrorMessage = errorCode(err), errorMessage(err)
	w.rp.BaseOffset = -1
}

// answerLocked sends the response, once. a.mu is held.
func (a *produceAnswer) answerLocked() {
	a.answered = true
	a.timer.Stop()
	a.r.respond(a.resp)
}

// produceResponse returns an empty produce response for req: the last one
// this connection wrote, if any (its slices are reused), else a new one.
func (c *conn) produceResponse(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := c.spareProduce.Swap(nil)
	if resp == nil {
		return req.ResponseKind().(*kmsg.ProduceResponse)
	}
	topics := resp.Topics[:0]
	*resp = kmsg.ProduceResponse{}
	resp.Default()
	resp.SetVersion(req.GetVersion())
	resp.Topics = topics
	return resp
}

// errNotOneBatch: Kafka requires exactly one record batch per partition in
// a produce request of version 3 or later.
var errNotOneBatch = fmt.Errorf("produce v3+ must carry exactly one record batch per partition: %w", millrace.ErrInvalidBatch)

// produceOne appends one partition's batch, accepted in memory, and returns
// the handle to wait for its fsync.
func (s *Server) produceOne(version int16, req *kmsg.ProduceRequest, topic string, p *kmsg.ProduceRequestTopicPartition) (millrace.AppendResult, millrace.Durability, error) {
	res, err := s.checkProduce(version, req, topic, p)
	if err != nil {
		return res, millrace.Durability{}, err
	}
	// Kafka creates topics through Metadata, never on produce.
	return s.log.AppendBatchAsync(topic, p.Partition, p.Records, millrace.AppendOptions{NoAutoCreate: true})
}

// checkProduce rejects what a produce of this version and shape cannot do.
func (s *Server) checkProduce(version int16, req *kmsg.ProduceRequest, topic string, p *kmsg.ProduceRequestTopicPartition) (millrace.AppendResult, error) {
	switch {
	case version < 3:
		return millrace.AppendResult{}, protoErrf(kerr.UnsupportedVersion,
			"produce v%d carries message format 0 or 1; millrace stores only record batches v2 (produce v3+)", version)
	case req.TransactionID != nil:
		return millrace.AppendResult{}, errNoTransactions
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		return millrace.AppendResult{}, protoErrf(kerr.InvalidRequiredAcks, "acks %d: must be -1, 0 or 1", req.Acks)
	case s.cfg.ReadOnly != nil && s.cfg.ReadOnly():
		return millrace.AppendResult{}, protoErrf(kerr.KafkaStorageError, "the server is read-only: its disk is almost full")
	}
	h, err := batch.ReadHeader(p.Records)
	if err != nil {
		return millrace.AppendResult{}, fmt.Errorf("produce to %s/%d: %w", topic, p.Partition, err)
	}
	if h.TotalSize() != len(p.Records) {
		return millrace.AppendResult{}, fmt.Errorf("produce to %s/%d: batch of %d bytes in %d bytes of records: %w",
			topic, p.Partition, h.TotalSize(), len(p.Records), errNotOneBatch)
	}
	return millrace.AppendResult{}, nil
}
