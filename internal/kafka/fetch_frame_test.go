package kafka

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomFetchResponse builds a Fetch response of the shape the server
// sends: several topics and partitions, errors, aborted transactions or
// none, null, empty and large record sets.
func randomFetchResponse(r *rand.Rand, version int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	resp.ThrottleMillis = r.Int32N(100)
	resp.ErrorCode = int16(r.IntN(3))
	resp.SessionID = r.Int32()
	for range 1 + r.IntN(3) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(bytes.Repeat([]byte{byte('a' + r.IntN(26))}, 1+r.IntN(40)))
		fill(r, t.TopicID[:])
		for range 1 + r.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode = r.Int32N(1000), int16(r.IntN(2))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = r.Int64(), r.Int64(), r.Int64()
			p.PreferredReadReplica = -1
			switch r.IntN(3) {
			case 0:
				p.AbortedTransactions = nil
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			default:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: r.Int64(), FirstOffset: r.Int64()}}
			}
			switch r.IntN(4) {
			case 0:
				p.RecordBatches = nil
			case 1:
				p.RecordBatches = []byte{}
			default:
				p.RecordBatches = make([]byte, r.IntN(200<<10))
				fill(r, p.RecordBatches)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// Sent as pieces, a Fetch response is byte for byte the frame kmsg encodes,
// in every version served.
func TestFetchFrameWithSplicesIsTheEncodedResponse(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sent := 0
	for version := int16(4); version <= 13; version++ {
		for range 30 {
			resp := randomFetchResponse(r, version)
			want := AppendResponse(nil, 77, resp)
			if !spliceable(resp) {
				continue
			}
			frame, splices := fetchFrame(nil, 77, resp, nil)
			got := bytes.Join(frameVector(frame, splices, nil), nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("version %d: spliced frame of %d bytes differs from kmsg's %d bytes", version, len(got), len(want))
			}
			sent++
		}
	}
	if sent < 100 {
		t.Fatalf("only %d responses were spliceable; the test checks too little", sent)
	}
}

// What fetchFrame cannot encode exactly is left to kmsg.
func TestFetchFrameRefusesWhatItCannotEncode(t *testing.T) {
	resp := randomFetchResponse(rand.New(rand.NewPCG(3, 4)), 12)
	resp.Topics[0].Partitions[0].RecordBatches = make([]byte, minSpliceBytes)
	if !spliceable(resp) {
		t.Fatal("a plain large response is not spliceable")
	}
	resp.Topics[0].Partitions[0].CurrentLeader.LeaderID = 3
	if spliceable(resp) {
		t.Fatal("a response with a current-leader tag is spliceable")
	}
	small := kmsg.NewPtrFetchResponse()
	small.Version = 12
	if spliceable(small) {
		t.Fatal("an empty response is spliceable")
	}
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}
