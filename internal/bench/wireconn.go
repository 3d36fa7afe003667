package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxWireFrame bounds a response frame the wire client accepts.
const maxWireFrame = 256 << 20

// wireConn is one Kafka protocol connection of the wire client: requests
// are encoded by kmsg and written whole, responses read back in the order
// sent (Kafka answers a connection's requests in order). A wireConn is
// used by at most one writer and one reader goroutine at a time.
type wireConn struct {
	conn net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
	wbuf []byte
	rbuf []byte
}

func dialWire(ctx context.Context, addr string) (*wireConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: wire client: dial %s: %w", addr, err)
	}
	return &wireConn{conn: c, r: bufio.NewReaderSize(c, 256<<10), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("millrace-bench"))}, nil
}

func (w *wireConn) close() error { return w.conn.Close() }

// send writes req as one frame and returns its correlation id.
func (w *wireConn) send(req kmsg.Request) (int32, error) {
	w.corr++
	w.wbuf = w.f.AppendRequest(w.wbuf[:0], req, w.corr)
	if _, err := w.conn.Write(w.wbuf); err != nil {
		return 0, fmt.Errorf("bench: wire client: send %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	return w.corr, nil
}

// recv reads the next response frame into resp (whose Version must be the
// request's), which must answer the request with correlation id corr. The
// bytes resp aliases stay valid until the next recv.
func (w *wireConn) recv(resp kmsg.Response, corr int32) error {
	var size [4]byte
	if _, err := io.ReadFull(w.r, size[:]); err != nil {
		return fmt.Errorf("bench: wire client: read %s response: %w", kmsg.NameForKey(resp.Key()), err)
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxWireFrame {
		return fmt.Errorf("bench: wire client: %s response frame of %d bytes", kmsg.NameForKey(resp.Key()), n)
	}
	if cap(w.rbuf) < n {
		w.rbuf = make([]byte, n)
	}
	b := w.rbuf[:n]
	if _, err := io.ReadFull(w.r, b); err != nil {
		return fmt.Errorf("bench: wire client: read %s response: %w", kmsg.NameForKey(resp.Key()), err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		return fmt.Errorf("bench: wire client: a %s response answers request %d, want %d", kmsg.NameForKey(resp.Key()), got, corr)
	}
	rd := kbin.Reader{Src: b[4:]} // after the correlation id
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		kmsg.SkipTags(&rd)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return fmt.Errorf("bench: wire client: decode %s response: %w", kmsg.NameForKey(resp.Key()), err)
	}
	return nil
}

// roundTrip sends req and reads its response; only for a connection with
// nothing else in flight.
func (w *wireConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	corr, err := w.send(req)
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := w.recv(resp, corr); err != nil {
		return nil, err
	}
	return resp, nil
}

// wireTopic is what the wire client needs of a topic: its leader's address
// (a topic led by several brokers is refused: the wire client keeps one
// connection) and its partition count.
type wireTopic struct {
	leader     string
	partitions int32
}

// topicMeta asks for the topic's metadata, asking again for up to
// metaPatience while a new topic's partitions have no leader yet.
func (w *wireConn) topicMeta(ctx context.Context, topic string) (wireTopic, error) {
	deadline := time.Now().Add(metaPatience)
	for {
		wt, err := w.topicMetaOnce(topic)
		if !errors.Is(err, errNoLeader) || time.Now().After(deadline) {
			return wt, err
		}
		select {
		case <-ctx.Done():
			return wt, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// metaPatience is how long topicMeta waits for partitions to get leaders.
const metaPatience = 5 * time.Second

// errNoLeader marks a partition without a leader yet.
var errNoLeader = errors.New("no leader yet")

func (w *wireConn) topicMetaOnce(topic string) (wireTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	r, err := w.roundTrip(req)
	if err != nil {
		return wireTopic{}, err
	}
	resp := r.(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 {
		return wireTopic{}, fmt.Errorf("bench: wire client: metadata of %q: %d topics answered", topic, len(resp.Topics))
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return wireTopic{}, fmt.Errorf("bench: wire client: metadata of %q: %w", topic, err)
	}
	addrs := map[int32]string{}
	for _, b := range resp.Brokers {
		addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	var wt wireTopic
	for _, p := range t.Partitions {
		if err := kerr.ErrorForCode(p.ErrorCode); errors.Is(err, kerr.LeaderNotAvailable) || p.Leader < 0 {
			return wireTopic{}, fmt.Errorf("bench: wire client: metadata of %s/%d: %w", topic, p.Partition, errNoLeader)
		} else if err != nil {
			return wireTopic{}, fmt.Errorf("bench: wire client: metadata of %s/%d: %w", topic, p.Partition, err)
		}
		a, ok := addrs[p.Leader]
		if !ok {
			return wireTopic{}, fmt.Errorf("bench: wire client: %s/%d has no known leader (%d)", topic, p.Partition, p.Leader)
		}
		if wt.leader != "" && a != wt.leader {
			return wireTopic{}, fmt.Errorf("bench: wire client: %q is led by more than one broker (%s, %s); use --client franz", topic, wt.leader, a)
		}
		wt.leader = a
		wt.partitions++
	}
	if wt.partitions == 0 {
		return wireTopic{}, fmt.Errorf("bench: wire client: %q has no partitions", topic)
	}
	return wt, nil
}

// offsets lists each partition's earliest (ts -2) or next (ts -1) offset.
func (w *wireConn) offsets(topic string, partitions int32, ts int64) ([]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	r, err := w.roundTrip(req)
	if err != nil {
		return nil, err
	}
	out := make([]int64, partitions)
	seen := make([]bool, partitions)
	for _, t := range r.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("bench: wire client: list offsets of %s/%d: %w", topic, p.Partition, err)
			}
			if p.Partition >= 0 && p.Partition < partitions {
				out[p.Partition], seen[p.Partition] = p.Offset, true
			}
		}
	}
	for p, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("bench: wire client: list offsets of %s: partition %d not answered", topic, p)
		}
	}
	return out, nil
}

// initProducer asks for an idempotent producer id and epoch.
func (w *wireConn) initProducer() (int64, int16, error) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 2
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	r, err := w.roundTrip(req)
	if err != nil {
		return 0, 0, err
	}
	resp := r.(*kmsg.InitProducerIDResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, 0, fmt.Errorf("bench: wire client: init producer id: %w", err)
	}
	return resp.ProducerID, resp.ProducerEpoch, nil
}
