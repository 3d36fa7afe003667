package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// fuzzSeeds are request frames (without the size prefix) for every API the
// protocol library knows, at their lowest and highest versions, with
// default fields and a topic that exists; plus an unknown key.
func fuzzSeeds() [][]byte {
	var out [][]byte
	for key := int16(0); key < 100; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		for _, v := range []int16{0, req.MaxVersion()} {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			fillTopic(req)
			frame := requestFrame(req, 1)
			out = append(out, frame[4:])
		}
	}
	var unknown []byte
	unknown = kbin.AppendInt16(unknown, 999)
	unknown = kbin.AppendInt16(unknown, 0)
	unknown = kbin.AppendInt32(unknown, 1)
	unknown = kbin.AppendNullableString(unknown, nil)
	return append(out, unknown)
}

// fillTopic names the fuzz topic in the common requests, so that seeds
// reach the handlers' paths for existing partitions.
func fillTopic(req kmsg.Request) {
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		r.Acks = 1
		r.Topics = []kmsg.ProduceRequestTopic{{Topic: "fuzz", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: fuzzBatch()}}}}
	case *kmsg.FetchRequest:
		r.MaxWaitMillis, r.MinBytes = 10, 1
		r.Topics = []kmsg.FetchRequestTopic{{Topic: "fuzz", Partitions: []kmsg.FetchRequestTopicPartition{{PartitionMaxBytes: 1 << 20}}}}
	case *kmsg.ListOffsetsRequest:
		r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "fuzz", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Timestamp: -1}}}}
	case *kmsg.MetadataRequest:
		r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("fuzz")}}
	case *kmsg.JoinGroupRequest:
		r.Group, r.ProtocolType, r.SessionTimeoutMillis = "fg", "consumer", 10000
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	case *kmsg.OffsetCommitRequest:
		r.Group = "fg"
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "fuzz", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Offset: 1}}}}
	case *kmsg.OffsetFetchRequest:
		r.Group = "fg"
	}
}

func fuzzBatch() []byte {
	rp := &rawProducer{pid: -1}
	return rp.batch(0, 0, 3, 0)
}

func FuzzRequest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	l, err := millrace.Open(millrace.Options{Dir: f.TempDir(), Fsync: "never", Logger: testLogger(f)})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(l, Config{Logger: testLogger(f), ReadTimeout: time.Second, MaxFrameBytes: 1 << 20,
		GroupMinSessionTimeout: time.Second, GroupMaxSessionTimeout: 10 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	var panicked atomic.Value
	srv.panicHook = func(v any) { panicked.Store(fmt.Sprint(v)) }
	if _, err := l.CreateTopic("fuzz", 2, nil); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		l.Close()
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		client, server := net.Pipe()
		srv.startConn(server)
		go func() {
			client.Write(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
			client.Write(body)
		}()
		client.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		io.Copy(io.Discard, client)
		client.Close()
		if v := panicked.Load(); v != nil {
			t.Fatalf("the server panicked: %v", v)
		}
	})
}
