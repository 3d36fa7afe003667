// Command nullbroker is a Kafka broker that keeps nothing: it answers
// every produce at once, as if appended, without storing, copying or
// checking a record. It exists to measure the floor under millrace's
// latencies on a machine (issue 6): the same client, at the same rate,
// against a server that does no work, shows what the loopback round trip
// and the two processes' scheduling cost by themselves. bench/floor.sh
// runs it beside millrace.
//
//	go run ./bench/nullbroker -addr 127.0.0.1:9093
//
// With -file PATH it is instead the smallest durable broker: every
// produce's batches are appended to that one file by a syncer goroutine
// that writes what has come since its last pass and fdatasyncs it, again
// and again, and an acks=all produce is answered once a sync covering it
// has returned (a group commit, and nothing else: no index, no segments,
// no checks). Against it the same client shows what writing and syncing
// on this machine's disk cost a broker that does nothing more.
//
// It answers ApiVersions, Metadata, CreateTopics, InitProducerId and
// Produce, enough for `millrace bench produce --client wire` and for
// franz-go's producer; any other request closes the connection. Each
// connection is served by one goroutine that reads a request and writes
// its response before reading the next, the shortest path a server has.
// It stops on SIGINT or SIGTERM.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/millrace/millrace/internal/kafka"
)

// maxFrame bounds a request frame, as millrace's default does.
const maxFrame = 100 << 20

// versions are the APIs answered and their version ranges.
var versions = map[int16][2]int16{
	0:  {3, 9}, // Produce
	3:  {0, 9}, // Metadata (v10+ would need topic ids)
	18: {0, 3}, // ApiVersions
	19: {0, 4}, // CreateTopics
	22: {0, 2}, // InitProducerId
}

// broker is the whole state: the topics created and each partition's next
// offset, and with -file the log they are appended to.
type broker struct {
	host string
	port int32
	log  *syncLog // nil: keep nothing

	mu     sync.Mutex
	topics map[string][]int64 // next offset per partition
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9093", "address to listen on")
	file := flag.String("file", "", "append produced batches to this file (created or truncated) and fdatasync it; acks=all waits for the sync")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("nullbroker: listen on %s: %v", *addr, err)
	}
	var f *os.File
	if *file != "" {
		if f, err = os.OpenFile(*file, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644); err != nil {
			log.Fatalf("nullbroker: %v", err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; ln.Close() }()
	fmt.Fprintf(os.Stderr, "nullbroker: listening on %s\n", ln.Addr())
	newBroker(ln, f).accept(ln)
}

// newBroker returns a broker that advertises ln's address and, if f is
// not nil, appends produced batches to f (its syncer goroutine started
// here, for the life of the process).
func newBroker(ln net.Listener, f *os.File) *broker {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	b := &broker{host: host, port: int32(p), topics: map[string][]int64{}}
	if f != nil {
		b.log = newSyncLog(f)
		go b.log.run()
	}
	return b
}

// accept serves ln's connections, each on a goroutine of its own, until ln
// is closed.
func (b *broker) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("nullbroker: accept: %v", err)
			continue
		}
		go b.serve(c)
	}
}

// serve answers one connection's requests in order until it fails or
// closes. A response that is ready, with none before it waiting, is
// written here at once; one that waits for a sync (acks=all with -file)
// goes to the connection's writer goroutine, started on first need,
// which writes each in turn once its sync has returned.
func (b *broker) serve(c net.Conn) {
	defer c.Close()
	w := &respWriter{c: c}
	defer w.close()
	br := bufio.NewReaderSize(c, 64<<10)
	var head [4]byte
	var body []byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(head[:]))
		if n < 8 || n > maxFrame {
			log.Printf("nullbroker: %s: frame of %d bytes; closing", c.RemoteAddr(), n)
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		resp, corr, synced, err := b.handle(body)
		if err != nil {
			log.Printf("nullbroker: %s: %v; closing", c.RemoteAddr(), err)
			return
		}
		if resp == nil {
			continue // acks=0
		}
		if err := w.send(corr, resp, synced); err != nil {
			return
		}
	}
}

// respWriter writes one connection's responses in request order.
type respWriter struct {
	c      net.Conn
	mu     sync.Mutex // held while writing; guards out
	out    []byte
	queued atomic.Int32  // responses handed to the writer, not yet written
	queue  chan response // nil until the first response that waits
	failed atomic.Bool
}

// response is an encoded response frame and the sync it waits for (nil:
// none).
type response struct {
	frame  []byte
	synced <-chan struct{}
}

// send writes the response now if nothing is queued before it and it
// waits for nothing, else queues it for the writer goroutine.
func (w *respWriter) send(corr int32, resp kmsg.Response, synced <-chan struct{}) error {
	if w.failed.Load() {
		return errors.New("a response write failed")
	}
	if synced == nil && w.queued.Load() == 0 {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.out = kafka.AppendResponse(w.out[:0], corr, resp)
		_, err := w.c.Write(w.out)
		return err
	}
	if w.queue == nil {
		w.queue = make(chan response, 128)
		go w.run()
	}
	w.queued.Add(1)
	w.queue <- response{frame: kafka.AppendResponse(nil, corr, resp), synced: synced}
	return nil
}

// run is the writer goroutine: it writes queued responses in order, each
// once its sync has returned, until the queue is closed.
func (w *respWriter) run() {
	for r := range w.queue {
		if r.synced != nil {
			<-r.synced
		}
		w.mu.Lock()
		if _, err := w.c.Write(r.frame); err != nil {
			w.failed.Store(true)
		}
		w.mu.Unlock()
		w.queued.Add(-1)
	}
}

// close ends the writer goroutine, if one was started, once it has
// written what was queued.
func (w *respWriter) close() {
	if w.queue != nil {
		close(w.queue)
	}
}

// keepCached is how much of the file's end the page cache keeps.
const keepCached = 64 << 20

// trim bounds the page cache the log takes, as a log server must: pages
// more than keepCached behind the end (synced, so clean) are dropped,
// since on a machine whose fresh pages are dear a page cache that only
// grows stalls everyone (BENCHMARKS.md, drop_sealed_page_cache). The file
// itself only grows, as a log's segments do until retention: emptying it
// in the syncer stalled the syncs behind it for hundreds of
// milliseconds.
func (l *syncLog) trim(off int64) {
	if off-l.dropped >= 2*keepCached {
		end := off - keepCached
		unix.Fadvise(int(l.f.Fd()), l.dropped, end-l.dropped, unix.FADV_DONTNEED)
		l.dropped = end
	}
}

// syncLog is the -file log: batches are appended to pending, and the
// syncer goroutine (run) writes and fdatasyncs them. done is closed once
// the sync covering the batches now pending has returned.
type syncLog struct {
	f       *os.File
	wake    chan struct{}
	dropped int64 // the page cache was asked to drop the file below this; run owns it

	mu      sync.Mutex
	pending []byte
	done    chan struct{}
}

func newSyncLog(f *os.File) *syncLog {
	return &syncLog{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// append adds a batch and returns the channel closed once it is synced.
func (l *syncLog) append(b []byte) <-chan struct{} {
	l.mu.Lock()
	l.pending = append(l.pending, b...)
	done := l.done
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return done
}

// run writes and syncs whatever is pending, as long as something is,
// forever. A failed write or sync ends the process: nothing would be
// durable after it.
func (l *syncLog) run() {
	var buf []byte
	var off int64
	for range l.wake {
		for {
			l.mu.Lock()
			buf, l.pending = l.pending, buf[:0]
			done := l.done
			if len(buf) > 0 {
				l.done = make(chan struct{})
			}
			l.mu.Unlock()
			if len(buf) == 0 {
				break
			}
			if _, err := l.f.WriteAt(buf, off); err != nil {
				log.Fatalf("nullbroker: write %s: %v", l.f.Name(), err)
			}
			off += int64(len(buf))
			if err := unix.Fdatasync(int(l.f.Fd())); err != nil {
				log.Fatalf("nullbroker: fdatasync %s: %v", l.f.Name(), err)
			}
			close(done)
			l.trim(off)
		}
	}
}

// handle decodes one request and returns its response (nil for acks=0),
// correlation id and, for acks=all with -file, the channel closed once its
// batches are synced.
func (b *broker) handle(body []byte) (kmsg.Response, int32, <-chan struct{}, error) {
	rd := kbin.Reader{Src: body}
	key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
	rd.NullableString() // client id
	vr, ok := versions[key]
	if key == 18 && version > vr[1] {
		// KIP-511: a newer ApiVersions is answered in v0, with the
		// versions served, so that the client retries in one of them.
		out := kmsg.NewPtrApiVersionsResponse()
		out.ErrorCode = 35 // UNSUPPORTED_VERSION
		apiKeys(out)
		return out, corr, nil, nil
	}
	if !rd.Ok() || !ok || version < vr[0] || version > vr[1] {
		return nil, 0, nil, fmt.Errorf("request %s v%d is not served", kmsg.NameForKey(key), version)
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := req.ReadFrom(rd.Src); err != nil {
		return nil, 0, nil, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		apiKeys(resp.(*kmsg.ApiVersionsResponse))
	case *kmsg.MetadataRequest:
		b.metadata(r, resp.(*kmsg.MetadataResponse))
	case *kmsg.CreateTopicsRequest:
		out := resp.(*kmsg.CreateTopicsResponse)
		b.mu.Lock()
		for _, t := range r.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = t.Topic, t.NumPartitions, 1
			if _, ok := b.topics[t.Topic]; ok {
				rt.ErrorCode = 36 // TOPIC_ALREADY_EXISTS
			} else {
				b.topics[t.Topic] = make([]int64, max(t.NumPartitions, 1))
			}
			out.Topics = append(out.Topics, rt)
		}
		b.mu.Unlock()
	case *kmsg.InitProducerIDRequest:
		out := resp.(*kmsg.InitProducerIDResponse)
		out.ProducerID, out.ProducerEpoch = 1, 0
	case *kmsg.ProduceRequest:
		if r.Acks == 0 {
			b.produce(r, nil)
			return nil, corr, nil, nil
		}
		synced := b.produce(r, resp.(*kmsg.ProduceResponse))
		if r.Acks == -1 {
			return resp, corr, synced, nil
		}
	}
	return resp, corr, nil, nil
}

// apiKeys lists the APIs served in out.
func apiKeys(out *kmsg.ApiVersionsResponse) {
	for k, v := range versions {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, v[0], v[1]
		out.ApiKeys = append(out.ApiKeys, ak)
	}
}

// metadata describes this broker as the leader of every partition of the
// topics asked for (all, if none are named).
func (b *broker) metadata(r *kmsg.MetadataRequest, out *kmsg.MetadataResponse) {
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = 0, b.host, b.port
	out.Brokers = []kmsg.MetadataResponseBroker{br}
	out.ControllerID = 0
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(r.Topics))
	for _, t := range r.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	if r.Topics == nil {
		for name := range b.topics {
			names = append(names, name)
		}
	}
	for _, name := range names {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(name)
		parts, ok := b.topics[name]
		if !ok {
			mt.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
		}
		for p := range parts {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition, mp.Leader, mp.Replicas, mp.ISR = int32(p), 0, []int32{0}, []int32{0}
			mt.Partitions = append(mt.Partitions, mp)
		}
		out.Topics = append(out.Topics, mt)
	}
}

// produce gives each partition's batch the next offsets, read from the
// batch header's record count, and stores nothing, or with -file appends
// the batches to the log and returns the channel closed once they are
// synced.
func (b *broker) produce(r *kmsg.ProduceRequest, out *kmsg.ProduceResponse) (synced <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range r.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			parts := b.topics[t.Topic]
			switch {
			case p.Partition < 0 || int(p.Partition) >= len(parts):
				rp.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
			case len(p.Records) < 61:
				rp.ErrorCode = 87 // INVALID_RECORD
			default:
				// A v2 batch's record count is its last header field.
				n := int64(binary.BigEndian.Uint32(p.Records[57:61]))
				rp.BaseOffset = parts[p.Partition]
				parts[p.Partition] += n
				if b.log != nil {
					synced = b.log.append(p.Records)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if out != nil {
			out.Topics = append(out.Topics, rt)
		}
	}
	return synced
}
