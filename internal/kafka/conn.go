package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxInFlight bounds the requests of one connection read but not yet
// answered; past it the reader stops reading until a response is written
// (TCP backpressure on a client that pipelines too much).
const maxInFlight = 128

// minFrameBytes is the smallest request: api key, version, correlation id
// and a null client id.
const minFrameBytes = 10

// conn is one client connection. Its reader goroutine (serve) reads and
// dispatches requests in order; responses go out in the same order, each
// as soon as it and all before it are ready. A response ready when its
// handler returns, with nothing before it left to write (a produce with
// acks=1, metadata), is written by the reader itself; any other goes
// through the queue to the writer goroutine, which waits for it. Handlers
// may answer asynchronously.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	br     *bufio.Reader
	queue  chan *slot // responses in request order; closed by the reader
	// wake (on wakeMu) is signalled when a response is set, and broadcast
	// when ctx ends; the writer waits on it for the slot at the head of
	// the queue.
	wakeMu sync.Mutex
	wake   sync.Cond

	// wmu is held by whichever goroutine writes responses (the writer,
	// or the reader for a ready response): it guards bw and wbuf.
	wmu     sync.Mutex
	bw      *bufio.Writer
	wbuf    []byte
	splices []splice    // a Fetch response's batches (fetch_frame.go)
	vec     net.Buffers // the pieces of one vectored write

	// ctx is canceled when the connection is abandoned (client gone,
	// protocol error, forced shutdown): pending work stops waiting.
	ctx    context.Context
	cancel context.CancelFunc

	// inflight counts slots queued to the writer and not yet written; it
	// falls to 0 only once the writer has written and flushed them all.
	inflight atomic.Int32

	// spareProduce is the last produce response written, once encoded,
	// for the next produce request's handler to fill: its topic and
	// partition slices are then reused (produceResponse).
	spareProduce atomic.Pointer[kmsg.ProduceResponse]

	// clientID is the client id of the last request read, reused while
	// it stays the same; owned by the reader goroutine.
	clientID string

	// rbuf is reused for the bodies of produce requests, which dispatch
	// consumes before it returns (the batches are copied into the commit
	// log); other requests get a buffer of their own, since their decoded
	// fields may alias it for longer. Owned by the reader goroutine.
	rbuf []byte
}

// produceKey is the Produce API's key.
const produceKey = 0

// maxReusedBody bounds the request buffer a connection keeps for reuse.
const maxReusedBody = 16 << 20

// slot is the place of one request's response in the connection's queue.
// It has no channel of its own: a response set wakes the connection's
// writer through conn.wake, and the writer checks whether the slot it
// waits for is the one (two allocations less per request than a slot of
// its own with a channel to close).
type slot struct {
	corr    int32
	key     int16         // the request's API
	start   time.Time     // when the request had been read whole
	resp    kmsg.Response // nil: no response is sent (acks=0); set before set is
	claimed atomic.Bool   // a response is being set: later ones are ignored
	set     atomic.Bool   // resp is set; stored under conn.wakeMu
}

// request is one decoded request, with its slot in the same allocation.
type request struct {
	slot
	c        *conn
	version  int16
	clientID string
	kreq     kmsg.Request
}

func (r *request) name() string { return kmsg.NameForKey(r.key) }

// respond sets the response (in the request's version) and lets the writer
// send it. Only the first call counts.
func (r *request) respond(resp kmsg.Response) {
	if !r.claimed.CompareAndSwap(false, true) {
		return
	}
	if resp != nil {
		resp.SetVersion(r.version)
	}
	r.resp = resp
	// Under the lock the writer waits with, so that it cannot miss it.
	r.c.wakeMu.Lock()
	r.set.Store(true)
	r.c.wake.Signal()
	r.c.wakeMu.Unlock()
}

// noResponse completes the request without a response (acks=0 produce).
func (r *request) noResponse() { r.respond(nil) }

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String(), br: bufio.NewReaderSize(nc, 64<<10),
		bw: bufio.NewWriterSize(nc, 64<<10), queue: make(chan *slot, maxInFlight), ctx: ctx, cancel: cancel}
	c.wake.L = &c.wakeMu
	context.AfterFunc(ctx, func() {
		c.wakeMu.Lock()
		c.wake.Broadcast()
		c.wakeMu.Unlock()
	})
	return c
}

// serve runs the connection: reader here, writer on its own goroutine.
func (c *conn) serve() {
	defer c.s.wg.Done()
	defer c.s.removeConn(c)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer c.recoverPanic("writer")
		c.writeLoop()
	}()
	graceful := c.readLoop()
	close(c.queue)
	if !graceful {
		c.cancel()
	}
	<-writerDone
	c.cancel()
	c.nc.Close()
}

// recoverPanic turns a panic into a log line and a closed connection.
func (c *conn) recoverPanic(where string) {
	if v := recover(); v != nil {
		c.s.reportPanic(v, "remote", c.remote, "where", where)
		c.abort()
	}
}

// stopReading makes the reader stop after the request it is reading (used
// by Shutdown; responses in flight are still written).
func (c *conn) stopReading() { c.nc.SetReadDeadline(time.Now()) }

// abort drops the connection at once.
func (c *conn) abort() {
	c.cancel()
	c.nc.Close()
}

// readLoop reads and dispatches requests until the client leaves, breaks
// the protocol or the server shuts down (then it returns true: the
// responses in flight should still be written).
func (c *conn) readLoop() (graceful bool) {
	defer func() {
		if v := recover(); v != nil {
			c.s.reportPanic(v, "remote", c.remote, "where", "reader")
			graceful = false
		}
	}()
	var size [4]byte
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if c.s.closing.Load() {
			return true
		}
		n, err := io.ReadFull(c.br, size[:])
		if err != nil {
			if isTimeout(err) && c.s.closing.Load() {
				return true
			}
			if isTimeout(err) && n == 0 && c.inflight.Load() > 0 {
				continue // the client waits for us, not idle
			}
			if n > 0 || !(errors.Is(err, io.EOF) || isTimeout(err)) {
				c.s.logger.Debug("kafka: reading request size failed; closing connection", "remote", c.remote, "err", err)
			}
			return false
		}
		frame := int32(binary.BigEndian.Uint32(size[:]))
		if frame < minFrameBytes || frame > c.s.cfg.MaxFrameBytes {
			c.s.logger.Warn("kafka: request size out of bounds; closing connection", "remote", c.remote,
				"size", frame, "min", minFrameBytes, "max", c.s.cfg.MaxFrameBytes)
			return false
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ReadTimeout))
		body, reused, err := c.readFrame(int(frame))
		if err != nil {
			if isTimeout(err) && c.s.closing.Load() {
				return true
			}
			c.s.logger.Warn("kafka: reading request failed; closing connection", "remote", c.remote, "size", frame, "err", err)
			return false
		}
		if key := int16(binary.BigEndian.Uint16(body)); key != produceKey && reused {
			body = bytes.Clone(body)
		}
		if !c.dispatch(body) {
			return false
		}
	}
}

// readFrame reads a request body of size bytes into the connection's
// reusable buffer when it fits (reused is then true), else into a new one
// that grows as the bytes arrive, kept for reuse if it is not too large.
func (c *conn) readFrame(size int) (body []byte, reused bool, err error) {
	if size <= cap(c.rbuf) {
		body = c.rbuf[:size]
		if n, err := io.ReadFull(c.br, body); err != nil {
			return nil, false, fmt.Errorf("read %d of %d bytes: %w", n, size, err)
		}
		return body, true, nil
	}
	body, err = readBody(c.br, size)
	if err != nil {
		return nil, false, err
	}
	if cap(body) <= maxReusedBody {
		c.rbuf = body
		return body, true, nil
	}
	return body, false, nil
}

// readBody reads a frame of size bytes, growing its buffer as the bytes
// arrive rather than trusting the size up front.
func readBody(r io.Reader, size int) ([]byte, error) {
	// Up to 1 MiB is allocated at once (a typical produce request, read
	// without regrowing); past that the buffer grows only as bytes arrive,
	// so a header claiming a huge size costs nothing until it is sent.
	buf := make([]byte, 0, min(size, 1<<20))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(size, 2*cap(buf))-len(buf))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+n]
		if err != nil && len(buf) < size {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read %d of %d bytes: %w", len(buf), size, err)
		}
	}
	return buf, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dispatch decodes one request and starts handling it. It returns false
// when the connection must be closed: a malformed header or body, or an
// API key the protocol library does not know (Kafka closes then too).
func (c *conn) dispatch(body []byte) bool {
	start := time.Now()
	rd := kbin.Reader{Src: body}
	key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
	clientID := c.readClientID(&rd)
	if !rd.Ok() {
		c.s.logger.Warn("kafka: malformed request header; closing connection", "remote", c.remote)
		return false
	}
	kreq := kmsg.RequestForKey(key)
	if kreq == nil {
		c.s.logger.Warn("kafka: unknown api key; closing connection", "remote", c.remote, "api_key", key, "version", version)
		return false
	}
	a, served := apis[key]
	if key == apiVersionsKey && (version < 0 || version > a.max) {
		// KIP-511: answer in v0 form so that any client can read the
		// supported range and retry.
		r := &request{slot: slot{corr: corr, key: key, start: start}, c: c, version: 0, kreq: kreq}
		r.respond(apiVersionsResponse(kerrUnsupportedVersion))
		return c.enqueue(&r.slot)
	}
	if version < 0 || version > kreq.MaxVersion() {
		c.s.logger.Warn("kafka: request version unknown to the codec; closing connection", "remote", c.remote,
			"api", kmsg.NameForKey(key), "version", version)
		return false
	}
	kreq.SetVersion(version)
	if kreq.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := kreq.ReadFrom(rd.Src); err != nil || !rd.Ok() {
		c.s.logger.Warn("kafka: malformed request; closing connection", "remote", c.remote,
			"api", kmsg.NameForKey(key), "version", version, "err", err)
		return false
	}
	r := &request{slot: slot{corr: corr, key: key, start: start}, c: c, version: version, kreq: kreq}
	r.clientID = clientID
	if !served || version < a.min || version > a.max {
		r.respond(unsupportedResponse(kreq))
	} else {
		a.handle(c.s, r)
	}
	return c.enqueue(&r.slot)
}

// readClientID reads a request header's client id (a nullable string; null
// reads as ""). A client sends the same one on every request, so the
// string of the previous request is reused when the bytes match: no
// allocation per request.
func (c *conn) readClientID(rd *kbin.Reader) string {
	n := rd.Int16()
	if n < 0 || !rd.Ok() {
		return ""
	}
	b := rd.Span(int(n)) // short: rd.Ok() reports it
	if !rd.Ok() {
		return ""
	}
	if string(b) != c.clientID {
		c.clientID = string(b)
	}
	return c.clientID
}

// waitReady blocks until sl's response is set (true) or the connection is
// abandoned (false).
func (c *conn) waitReady(sl *slot) bool {
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	for !sl.ready() {
		if c.ctx.Err() != nil {
			return false
		}
		c.wake.Wait()
	}
	return true
}

// ready reports whether the slot's response has been set.
func (sl *slot) ready() bool { return sl.set.Load() }

// enqueue puts a handled request's response in line, after every earlier
// one. If it is ready and nothing earlier is left to write, the reader
// writes it here: one goroutine wake-up less on the common path.
// Otherwise the slot goes to the writer, waiting while maxInFlight are
// queued. It returns false if the connection must close.
func (c *conn) enqueue(sl *slot) bool {
	if c.inflight.Load() == 0 && sl.ready() {
		if err := c.writeOne(sl, true, false); err != nil {
			c.writeFailed(err)
			return false
		}
		return true
	}
	c.inflight.Add(1)
	select {
	case c.queue <- sl:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// writeLoop writes queued responses in request order until the reader
// closes the queue and every queued response is written, or the
// connection is abandoned.
func (c *conn) writeLoop() {
	for sl := range c.queue {
		if !sl.ready() {
			// Send what is ready before waiting for a slow response
			// (a long poll, a rebalance, an fsync).
			if err := c.flush(); err != nil {
				c.writeFailed(err)
				return
			}
			if !c.waitReady(sl) {
				return
			}
		}
		if err := c.writeOne(sl, len(c.queue) == 0, true); err != nil {
			c.writeFailed(err)
			return
		}
	}
	c.flush()
}

// writeOne writes sl's response under c.wmu (see writeLocked); queued says
// it came through the writer's queue, whose count it then leaves. The lock
// is released even if encoding panics: the reader's or writer's recover
// closes the connection, and the other goroutine must not block on wmu.
func (c *conn) writeOne(sl *slot, flush, queued bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if queued {
		defer c.inflight.Add(-1)
	}
	return c.writeLocked(sl, flush)
}

// flush sends what the buffer holds, under c.wmu.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// writeLocked writes sl's response (none for acks=0) into the buffer, or
// for a large Fetch response straight to the socket, and flushes the
// buffer if flush is set. c.wmu is held.
func (c *conn) writeLocked(sl *slot, flush bool) error {
	fr, isFetch := sl.resp.(*kmsg.FetchResponse)
	var err error
	switch {
	case isFetch && spliceable(fr):
		err = c.writeFetchLocked(sl.corr, fr)
	case sl.resp != nil:
		err = c.bufferLocked(sl.corr, sl.resp)
	}
	if err != nil {
		return err
	}
	if isFetch {
		releaseFetch(fr) // sent or copied: its batches' buffers can be reused
	}
	if pr, ok := sl.resp.(*kmsg.ProduceResponse); ok {
		c.spareProduce.Store(pr) // encoded: the next produce's to fill
	}
	if flush {
		if err := c.flushLocked(); err != nil {
			return err
		}
	}
	c.observe(sl)
	return nil
}

// bufferLocked encodes a response frame into the write buffer. c.wmu is
// held.
func (c *conn) bufferLocked(corr int32, resp kmsg.Response) error {
	c.wbuf = AppendResponse(c.wbuf[:0], corr, resp)
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.bw.Write(c.wbuf)
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // do not keep a large response's buffer per connection
	}
	return err
}

// writeFailed logs a failed response write and drops the connection.
func (c *conn) writeFailed(err error) {
	c.s.logger.Debug("kafka: writing response failed; closing connection", "remote", c.remote, "err", err)
	c.abort()
}

// writeFetchLocked sends a Fetch response with its record batches where
// they lie, in one vectored write after what the buffer holds. c.wmu is
// held.
func (c *conn) writeFetchLocked(corr int32, resp *kmsg.FetchResponse) error {
	if err := c.flushLocked(); err != nil {
		return err
	}
	c.wbuf, c.splices = fetchFrame(c.wbuf[:0], corr, resp, c.splices[:0])
	c.vec = frameVector(c.wbuf, c.splices, c.vec[:0])
	vec := c.vec // WriteTo consumes its receiver
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := vec.WriteTo(c.nc)
	// Keep no record buffer alive past the write.
	clear(c.splices)
	clear(c.vec[:cap(c.vec)])
	c.splices, c.vec = c.splices[:0], c.vec[:0]
	return err
}

// flushLocked sends what the buffer holds. c.wmu is held.
func (c *conn) flushLocked() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	return c.bw.Flush()
}

// observe reports a finished request to the OnRequest hook.
func (c *conn) observe(sl *slot) {
	if h := c.s.cfg.OnRequest; h != nil {
		h(kmsg.NameForKey(sl.key), time.Since(sl.start))
	}
}

// AppendResponse appends a response frame: size, correlation id, the
// response header's tag section if flexible (never for ApiVersions, whose
// response header stays v0 so that any client can read it), and the body.
// bench/nullbroker frames its responses with it too.
func AppendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, corr)
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
