package kafka

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

func TestKafkaGoProduceConsumeEveryCodec(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	codecs := []struct {
		name  string
		codec kafkago.Compression
		want  batch.Compression
	}{
		{"none", 0, batch.None},
		{"gzip", kafkago.Gzip, batch.Gzip},
		{"snappy", kafkago.Snappy, batch.Snappy},
		{"lz4", kafkago.Lz4, batch.LZ4},
		{"zstd", kafkago.Zstd, batch.Zstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "kafkago-" + c.name
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := kafkago.DialContext(ctx, "tcp", ts.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			err = conn.CreateTopics(kafkago.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
				ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "2097152"}}})
			conn.Close()
			if err != nil {
				t.Fatalf("create topic: %v", err)
			}
			if _, err := ts.log.Topic(topic); err != nil {
				t.Fatalf("topic after create: %v", err)
			}
			// A transport per writer: the default one caches metadata
			// (6 s), so it would not see the topic just created.
			tr := &kafkago.Transport{}
			defer tr.CloseIdleConnections()
			w := &kafkago.Writer{Transport: tr, Addr: kafkago.TCP(ts.addr), Topic: topic, Balancer: &kafkago.Hash{},
				RequiredAcks: kafkago.RequireAll, Compression: c.codec, BatchBytes: 4 << 20, BatchSize: 50,
				BatchTimeout: 5 * time.Millisecond}
			defer w.Close()
			recs := workload(300, 3)
			var msgs []kafkago.Message
			for _, r := range recs {
				m := kafkago.Message{Key: r.Key, Value: r.Value}
				for _, h := range r.Headers {
					m.Headers = append(m.Headers, kafkago.Header{Key: h[0], Value: []byte(h[1])})
				}
				msgs = append(msgs, m)
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("produce: %v", err)
			}
			var got []wrec
			for p := range 3 {
				_, high, _, _ := ts.log.Watermarks(topic, int32(p))
				if high == 0 {
					continue
				}
				rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{ts.addr}, Topic: topic, Partition: p,
					MaxBytes: 8 << 20, MaxWait: 50 * time.Millisecond})
				for {
					m, err := rd.ReadMessage(ctx)
					if err != nil {
						t.Fatalf("consume partition %d: %v", p, err)
					}
					w := wrec{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value}
					if w.Value == nil {
						w.Value = []byte{}
					}
					for _, h := range m.Headers {
						w.Headers = append(w.Headers, [2]string{h.Key, string(h.Value)})
					}
					got = append(got, w)
					if m.Offset == high-1 {
						break
					}
				}
				rd.Close()
			}
			checkConsumed(t, recs, got)
			checkStoredCodec(t, ts, topic, 3, c.want)
		})
	}
}

// kafka-go's plain Conn speaks the older protocol versions (Produce v2
// among them): the broker must answer, not hang up.
func TestKafkaGoConnMetadata(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	conn, err := kafkago.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	host, port, _ := net.SplitHostPort(ts.addr)
	b, err := conn.Controller()
	if err != nil || b.Host != host || strconv.Itoa(b.Port) != port {
		t.Fatalf("controller %+v (%v), want %s", b, err, ts.addr)
	}
}
