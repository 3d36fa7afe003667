package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/vfs"
)

// rawConn is a hand-driven client connection, for what real clients never
// do (huge frames, dribbled bytes, unknown keys).
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, ts *testServer) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial %s: %v", ts.addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

// requestFrame encodes a request with its header, as a client would.
func requestFrame(req kmsg.Request, corr int32) []byte {
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, corr)
}

// send writes a request and reads the response into resp (whose version
// must be the request's).
func (c *rawConn) roundTrip(req kmsg.Request, corr int32) kmsg.Response {
	c.t.Helper()
	if _, err := c.nc.Write(requestFrame(req, corr)); err != nil {
		c.t.Fatalf("write %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return c.read(req, corr)
}

func (c *rawConn) read(req kmsg.Request, corr int32) kmsg.Response {
	c.t.Helper()
	body := c.readFrame()
	rd := kbin.Reader{Src: body}
	if got := rd.Int32(); got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		kmsg.SkipTags(&rd)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		c.t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func (c *rawConn) readFrame() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return body
}

// expectClosed checks that the server closes the connection within d.
func (c *rawConn) expectClosed(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := c.nc.Read(b[:])
	if err == nil || isTimeout(err) {
		c.t.Fatalf("connection still open after %v (read: %v)", d, err)
	}
}

// apiVersions checks that the connection still serves requests.
func (c *rawConn) apiVersions(corr int32) *kmsg.ApiVersionsResponse {
	c.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
	resp := c.roundTrip(req, corr).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		c.t.Fatalf("ApiVersions: code %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	return resp
}

func TestOversizedFrameClosesConnection(t *testing.T) {
	ts := startServer(t, "", Config{MaxFrameBytes: 1024}, millrace.Options{})
	c := dialRaw(t, ts)
	frame := make([]byte, 4+2048)
	binary.BigEndian.PutUint32(frame, 2048)
	c.nc.Write(frame)
	c.expectClosed(5 * time.Second)
	dialRaw(t, ts).apiVersions(1) // the server is fine
}

func TestHugeClaimedSizeIsNotAllocatedUpFront(t *testing.T) {
	ts := startServer(t, "", Config{ReadTimeout: 2 * time.Second}, millrace.Options{})
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var conns []*rawConn
	for range 5 {
		c := dialRaw(t, ts)
		var hdr [4 + 16]byte
		binary.BigEndian.PutUint32(hdr[:], 99<<20) // claims 99 MiB, under the 100 MiB limit
		c.nc.Write(hdr[:])
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond)
	runtime.ReadMemStats(&during)
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 50<<20 {
		t.Fatalf("heap grew by %d MiB for 5 connections claiming 99 MiB each and sending 16 bytes", grew>>20)
	}
	for _, c := range conns {
		c.expectClosed(10 * time.Second) // the read deadline ends them
	}
}

func TestSlowLorisIsClosedByTheReadDeadline(t *testing.T) {
	ts := startServer(t, "", Config{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 500 * time.Millisecond}, millrace.Options{})
	c := dialRaw(t, ts)
	frame := requestFrame(kmsg.NewPtrApiVersionsRequest(), 1)
	start := time.Now()
	closed := false
	for i := 0; i < len(frame) && !closed; i++ {
		if _, err := c.nc.Write(frame[i : i+1]); err != nil {
			closed = true
		}
		time.Sleep(100 * time.Millisecond)
		c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.nc.Read(b[:]); err != nil && !isTimeout(err) {
			closed = true
		}
	}
	if !closed {
		t.Fatalf("a client sending a byte every 100 ms was not disconnected (%d bytes over %v)", len(frame), time.Since(start))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("disconnected after %v, want about the read timeout", d)
	}
	idle := dialRaw(t, ts)
	idle.expectClosed(3 * time.Second) // says nothing at all: the idle timeout
}

func TestConnectionsPastTheLimitAreRefused(t *testing.T) {
	ts := startServer(t, "", Config{MaxConnections: 2}, millrace.Options{})
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.apiVersions(1)
	b.apiVersions(1)
	dialRaw(t, ts).expectClosed(5 * time.Second)
	a.apiVersions(2) // the first two are unaffected
	a.nc.Close()
	waitFor(t, "the closed connection to be forgotten", 5*time.Second, func() bool { return ts.srv.Connections() < 2 })
	dialRaw(t, ts).apiVersions(1)
}

func TestUnknownAPIKeyClosesConnection(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	c := dialRaw(t, ts)
	var hdr []byte
	hdr = kbin.AppendInt16(hdr, 999) // no such API
	hdr = kbin.AppendInt16(hdr, 0)
	hdr = kbin.AppendInt32(hdr, 7)
	hdr = kbin.AppendNullableString(hdr, nil)
	c.nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(hdr))), hdr...))
	c.expectClosed(5 * time.Second)
}

func TestUnservedAPIGetsUnsupportedVersion(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	c := dialRaw(t, ts)
	req := kmsg.NewPtrDescribeACLsRequest()
	req.SetVersion(1)
	resp := c.roundTrip(req, 1).(*kmsg.DescribeACLsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || resp.ErrorMessage == nil {
		t.Fatalf("DescribeACLs: code %d message %v, want UNSUPPORTED_VERSION with a message", resp.ErrorCode, resp.ErrorMessage)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	if r := c.roundTrip(hs, 2).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("SASLHandshake: code %d", r.ErrorCode)
	}
	c.apiVersions(3) // still open
}

func TestAPIVersionsOfAnUnknownVersionAnswersInV0(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	c := dialRaw(t, ts)
	var f []byte
	f = kbin.AppendInt16(f, apiVersionsKey)
	f = kbin.AppendInt16(f, 127)
	f = kbin.AppendInt32(f, 42)
	f = kbin.AppendNullableString(f, kmsg.StringPtr("future-client"))
	f = append(f, 0, 1, 2, 3, 4, 5) // a body from the future
	c.nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...))
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp := c.read(req, 42).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("code %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	found := false
	for _, k := range resp.ApiKeys {
		found = found || k.ApiKey == apiVersionsKey && k.MaxVersion == apis[apiVersionsKey].max
	}
	if !found {
		t.Fatalf("the v0 answer does not list ApiVersions' range: %+v", resp.ApiKeys)
	}
	c.apiVersions(43)
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	if _, err := ts.log.CreateTopic("pipe", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, ts)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 300, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "pipe"
	ft.Partitions = []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}
	fetch.Topics = append(fetch.Topics, ft)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	var buf []byte
	buf = append(buf, requestFrame(fetch, 1)...) // long polls for 300 ms
	buf = append(buf, requestFrame(av, 2)...)    // ready at once
	buf = append(buf, requestFrame(fetch, 3)...)
	buf = append(buf, requestFrame(av, 4)...)
	start := time.Now()
	c.nc.Write(buf)
	c.read(fetch, 1)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("an empty fetch with MaxWait 300 ms came back after %v", d)
	}
	c.read(av, 2)
	c.read(fetch, 3)
	c.read(av, 4)
}

// stallSyncs makes every fsync of efs on a path that on accepts (nil: any)
// block, as a disk that stops answering, until the returned release is
// called; release may be called more than once and runs at the test's end
// in any case, so that the server can close.
func stallSyncs(t *testing.T, efs *vfs.ErrorFS, on func(path string) bool) (release func()) {
	stall := make(chan struct{})
	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync && (on == nil || on(path)) {
			<-stall
		}
		return nil
	})
	var once sync.Once
	release = func() {
		once.Do(func() {
			efs.SetInjector(nil)
			close(stall)
		})
	}
	t.Cleanup(release)
	return release
}

// Overload (the log's memory bound) is answered with a retriable error
// and a throttle; the connection stays up.
func TestOverloadedProduceIsThrottledNotDropped(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	var sheds atomic.Int64
	ts := startServer(t, "", Config{OnShed: func() { sheds.Add(1) }}, millrace.Options{FS: efs, MaxPendingBytes: 256 << 10})
	if _, err := ts.log.CreateTopic("shed", 1, nil); err != nil {
		t.Fatal(err)
	}
	release := stallSyncs(t, efs, nil)
	c := dialRaw(t, ts)
	rp := &rawProducer{t: t, topic: "shed", pid: -1}
	var code int16
	var throttle int32
	for i := 0; i < 100 && code == 0; i++ {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "shed"
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: rp.batch(0, 0, 64, 1<<10)}}
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req, int32(i)).(*kmsg.ProduceResponse)
		code, throttle = resp.Topics[0].Partitions[0].ErrorCode, resp.ThrottleMillis
	}
	if code != kerr.RequestTimedOut.Code || throttle <= 0 {
		t.Fatalf("past the memory bound: code %v, throttle %d ms; want REQUEST_TIMED_OUT and a throttle", kerr.ErrorForCode(code), throttle)
	}
	if n := sheds.Load(); n != 1 {
		t.Fatalf("OnShed was called %d times for the one shed batch", n)
	}
	c.apiVersions(1000)
	release()
}

func TestShutdownEndsLongPollsAndReturns(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	if _, err := ts.log.CreateTopic("quiet", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, ts)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 60000, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "quiet"
	ft.Partitions = []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}
	fetch.Topics = append(fetch.Topics, ft)
	c.nc.Write(requestFrame(fetch, 1))
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v with a 60 s long poll in flight", d)
	}
	c.read(fetch, 1) // answered before the connection closed
	c.expectClosed(2 * time.Second)
	if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("serve: %v", err)
	}
	ts.log.Close()
	ts.srv = nil
}

// Produce v0-v2 carry message formats 0 and 1, which millrace does not
// store: each partition is answered UNSUPPORTED_VERSION, with the
// connection kept.
func TestOldProduceVersionsAreRefusedPerPartition(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	if _, err := ts.log.CreateTopic("old", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, ts)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(2)
	req.Acks, req.TimeoutMillis = 1, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "old"
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte{0, 0, 0, 0}}}
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req, 1).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedVersion.Code {
		t.Fatalf("produce v2: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(code))
	}
	c.apiVersions(2)
}

// acks=all is answered after the fsync; acks=1 before it, unless
// AcksOneWaitsForFsync.
func TestAcksWaitForTheFsyncAsAsked(t *testing.T) {
	for _, tc := range []struct {
		name      string
		acksOne   bool
		acks      int16
		waitsSync bool
	}{
		{"acks=1", false, 1, false},
		{"acks=all", false, -1, true},
		{"acks=1 waiting for fsync", true, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			efs := vfs.NewErrorFS(vfs.OS)
			ts := startServer(t, "", Config{AcksOneWaitsForFsync: tc.acksOne}, millrace.Options{FS: efs})
			if _, err := ts.log.CreateTopic("acks", 1, nil); err != nil {
				t.Fatal(err)
			}
			release := stallSyncs(t, efs, nil)
			c := dialRaw(t, ts)
			rp := &rawProducer{t: t, topic: "acks", pid: -1}
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(9)
			req.Acks, req.TimeoutMillis = tc.acks, 10000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "acks"
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: rp.batch(0, 0, 3, 0)}}
			req.Topics = append(req.Topics, rt)
			c.nc.Write(requestFrame(req, 1))
			c.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			var b [1]byte
			_, err := c.nc.Read(b[:])
			answeredEarly := err == nil
			if answeredEarly == tc.waitsSync {
				t.Fatalf("answered before the fsync: %v, want %v (read: %v)", answeredEarly, !tc.waitsSync, err)
			}
			release()
			if !answeredEarly {
				resp := c.read(req, 1).(*kmsg.ProduceResponse)
				if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
					t.Fatalf("response after the fsync: %+v", p)
				}
			}
		})
	}
}

// An acks=all request over two partitions is answered at its timeout when
// the disk does not answer (REQUEST_TIMED_OUT, no offset: nothing is
// acknowledged), and with KAFKA_STORAGE_ERROR when the fsync fails; the
// connection stays usable either way.
func TestAcksAllIsAnsweredAtItsTimeoutOrWithTheStorageError(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	ts := startServer(t, "", Config{}, millrace.Options{FS: efs})
	if _, err := ts.log.CreateTopic("slow", 2, nil); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, ts)
	rp := &rawProducer{t: t, topic: "slow", pid: -1}
	produce := func(corr int32, timeout int32) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = -1, timeout
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "slow"
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{
			{Partition: 0, Records: rp.batch(0, 0, 3, 0)},
			{Partition: 1, Records: rp.batch(0, 0, 2, 0)},
		}
		req.Topics = append(req.Topics, rt)
		return c.roundTrip(req, corr).(*kmsg.ProduceResponse)
	}
	codes := func(resp *kmsg.ProduceResponse) (codes []int16, offsets []int64) {
		for _, p := range resp.Topics[0].Partitions {
			codes, offsets = append(codes, p.ErrorCode), append(offsets, p.BaseOffset)
		}
		return codes, offsets
	}

	release := stallSyncs(t, efs, nil)
	start := time.Now()
	got, offsets := codes(produce(1, 200))
	took := time.Since(start)
	release()
	for i, code := range got {
		if code != kerr.RequestTimedOut.Code || offsets[i] != -1 {
			t.Fatalf("partition %d with the disk stalled: %v at offset %d, want REQUEST_TIMED_OUT at -1", i, kerr.ErrorForCode(code), offsets[i])
		}
	}
	if took < 150*time.Millisecond || took > 5*time.Second {
		t.Fatalf("answered after %v with a timeout of 200 ms", took)
	}

	efs.SetInjector(func(op vfs.Op, path string) error {
		if op == vfs.OpSync {
			return errors.New("EIO")
		}
		return nil
	})
	got, offsets = codes(produce(2, 10000))
	efs.SetInjector(nil)
	for i, code := range got {
		if code != kerr.KafkaStorageError.Code || offsets[i] != -1 {
			t.Fatalf("partition %d with the fsync failing: %v at offset %d, want KAFKA_STORAGE_ERROR at -1", i, kerr.ErrorForCode(code), offsets[i])
		}
	}
	// The shard reopens on its own; appends are acknowledged again.
	deadline := time.Now().Add(10 * time.Second)
	for corr := int32(3); ; corr++ {
		got, _ = codes(produce(corr, 10000))
		if got[0] == 0 && got[1] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce after the disk recovered: %v, %v", kerr.ErrorForCode(got[0]), kerr.ErrorForCode(got[1]))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A panic while a response is written on the reader goroutine (here, in
// the OnRequest hook) closes that connection only: the writer goroutine
// must not be left waiting for the write lock, so the server still shuts
// down promptly and other connections are served.
func TestPanicWhileWritingAResponseClosesOnlyThatConnection(t *testing.T) {
	var panics atomic.Int32
	ts := startServer(t, "", Config{OnRequest: func(api string, _ time.Duration) {
		if api == "ApiVersions" && panics.Add(1) == 1 {
			panic("hook failed")
		}
	}}, millrace.Options{})
	c := dialRaw(t, ts)
	if _, err := c.nc.Write(requestFrame(kmsg.NewPtrApiVersionsRequest(), 1)); err != nil {
		t.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Read(make([]byte, 1)); err == nil {
		// The response may have reached the buffer before the hook ran;
		// the connection must close all the same.
		if _, err := io.ReadAll(c.nc); err != nil {
			t.Fatalf("the connection whose response panicked stayed open: %v", err)
		}
	}
	dialRaw(t, ts).apiVersions(2) // another connection is served
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := ts.srv.Shutdown(ctx)
		<-ts.done
		stopped <- err
	}()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("shutdown after a panic on a connection: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown hangs after a panic on a connection: its writer waits for the write lock")
	}
	ts.log.Close()
	ts.srv = nil
}

// A request header's client id is read as a string, null as ""; the same
// id on the next request costs no allocation, a new one replaces it, and a
// header cut short inside the id is reported.
func TestClientIDsAreReadOnceAndReused(t *testing.T) {
	c := &conn{}
	read := func(src []byte) (string, bool) {
		rd := kbin.Reader{Src: src}
		id := c.readClientID(&rd)
		return id, rd.Ok()
	}
	header := func(id string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(id))), id...)
	}
	if id, ok := read([]byte{0xff, 0xff}); id != "" || !ok {
		t.Fatalf("null client id read as %q, ok %v", id, ok)
	}
	if id, ok := read(header("producer-1")); id != "producer-1" || !ok {
		t.Fatalf("client id read as %q, ok %v", id, ok)
	}
	same := header("producer-1")
	if n := testing.AllocsPerRun(100, func() { read(same) }); n != 0 {
		t.Fatalf("the same client id again cost %v allocations", n)
	}
	if id, _ := read(header("producer-2")); id != "producer-2" {
		t.Fatalf("a new client id read as %q", id)
	}
	if _, ok := read(header("producer-3")[:5]); ok {
		t.Fatal("a header cut inside its client id was read as whole")
	}
}

// A connection reuses the last produce response it wrote for the next
// request's: what the next response says is that request's alone, with
// nothing left over from a larger one or from an error before it.
func TestProduceResponsesCarryNothingOfTheLastOne(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	if _, err := ts.log.CreateTopic("a", 2, nil); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, ts)
	rp := &rawProducer{t: t, topic: "a", pid: -1}
	produce := func(corr int32, topics map[string][]int32) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = 1, 5000
		for _, name := range []string{"nope", "a"} { // errors first: the slots the next response reuses
			if parts, ok := topics[name]; ok {
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = name
				for _, p := range parts {
					rt.Partitions = append(rt.Partitions, kmsg.ProduceRequestTopicPartition{Partition: p, Records: rp.batch(0, 0, 2, 0)})
				}
				req.Topics = append(req.Topics, rt)
			}
		}
		return c.roundTrip(req, corr).(*kmsg.ProduceResponse)
	}
	first := produce(1, map[string][]int32{"a": {0, 1}, "nope": {0, 1, 2}})
	if len(first.Topics) != 2 || len(first.Topics[0].Partitions) != 3 || first.Topics[0].Partitions[1].ErrorCode == 0 {
		t.Fatalf("first response: %+v", first.Topics)
	}
	second := produce(2, map[string][]int32{"a": {1}})
	if len(second.Topics) != 1 || second.Topics[0].Topic != "a" || len(second.Topics[0].Partitions) != 1 {
		t.Fatalf("second response has topics %+v; want a/1 alone", second.Topics)
	}
	if p := second.Topics[0].Partitions[0]; p.Partition != 1 || p.ErrorCode != 0 || p.ErrorMessage != nil || p.BaseOffset != 2 {
		t.Fatalf("second response's partition: %+v; want partition 1 at offset 2, no error", p)
	}
}

// An acks=all request over partitions on two shards, one of whose disk
// stalls, is answered at its timeout with each partition's own outcome:
// the partition on the healthy shard acknowledged at its offset, the
// other REQUEST_TIMED_OUT at -1.
func TestAcksAllAnswersEachPartitionWithItsOwnShardsOutcome(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.OS)
	ts := startServer(t, "", Config{}, millrace.Options{FS: efs, Shards: 2})
	if _, err := ts.log.CreateTopic("mixed", 2, nil); err != nil {
		t.Fatal(err)
	}
	h := fnv.New32a()
	h.Write([]byte("mixed"))
	stalled := (h.Sum32() + 1) % 2 // partition 1's shard (millrace.Log.shardFor)
	marker := fmt.Sprintf("%cshards%c%d%c", filepath.Separator, filepath.Separator, stalled, filepath.Separator)
	release := stallSyncs(t, efs, func(path string) bool { return strings.Contains(path, marker) })

	c := dialRaw(t, ts)
	rp := &rawProducer{t: t, topic: "mixed", pid: -1}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 300
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "mixed"
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{
		{Partition: 0, Records: rp.batch(0, 0, 3, 0)},
		{Partition: 1, Records: rp.batch(0, 0, 2, 0)},
	}
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req, 1).(*kmsg.ProduceResponse)
	release()
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if p0.ErrorCode != 0 || p0.BaseOffset != 0 {
		t.Fatalf("partition 0, on the healthy shard: %v at %d; want acknowledged at 0", kerr.ErrorForCode(p0.ErrorCode), p0.BaseOffset)
	}
	if p1.ErrorCode != kerr.RequestTimedOut.Code || p1.BaseOffset != -1 {
		t.Fatalf("partition 1, on the stalled shard: %v at %d; want REQUEST_TIMED_OUT at -1", kerr.ErrorForCode(p1.ErrorCode), p1.BaseOffset)
	}
}
