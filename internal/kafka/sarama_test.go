package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/batch"
)

func saramaConfig(codec sarama.CompressionCodec) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "millrace-sarama-test"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = codec
	cfg.Producer.MaxMessageBytes = 2 << 20
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	// No Flush.Messages: without a Flush.Frequency too, sarama may never
	// send a partial batch.
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Fetch.Default = 4 << 20
	cfg.Consumer.MaxWaitTime = 50 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func TestSaramaProduceConsumeEveryCodec(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	codecs := []struct {
		name  string
		codec sarama.CompressionCodec
		want  batch.Compression
	}{
		{"none", sarama.CompressionNone, batch.None},
		{"gzip", sarama.CompressionGZIP, batch.Gzip},
		{"snappy", sarama.CompressionSnappy, batch.Snappy},
		{"lz4", sarama.CompressionLZ4, batch.LZ4},
		{"zstd", sarama.CompressionZSTD, batch.Zstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "sarama-" + c.name
			cfg := saramaConfig(c.codec)
			adm, err := sarama.NewClusterAdmin([]string{ts.addr}, cfg)
			if err != nil {
				t.Fatalf("cluster admin: %v", err)
			}
			defer adm.Close()
			mmb := "2097152"
			if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"max.message.bytes": &mmb}}, false); err != nil {
				t.Fatalf("create topic: %v", err)
			}
			prod, err := sarama.NewSyncProducer([]string{ts.addr}, cfg)
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			defer prod.Close()
			recs := workload(300, 2)
			var msgs []*sarama.ProducerMessage
			for _, w := range recs {
				m := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(w.Key), Value: sarama.ByteEncoder(w.Value)}
				for _, h := range w.Headers {
					m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
				}
				msgs = append(msgs, m)
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatalf("produce: %v", err)
			}
			cons, err := sarama.NewConsumer([]string{ts.addr}, cfg)
			if err != nil {
				t.Fatalf("consumer: %v", err)
			}
			defer cons.Close()
			var got []wrec
			for p := range int32(3) {
				_, high, _, _ := ts.log.Watermarks(topic, p)
				if high == 0 {
					continue
				}
				pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					t.Fatalf("consume partition %d: %v", p, err)
				}
				for {
					select {
					case m := <-pc.Messages():
						w := wrec{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value}
						if w.Value == nil {
							w.Value = []byte{}
						}
						for _, h := range m.Headers {
							w.Headers = append(w.Headers, [2]string{string(h.Key), string(h.Value)})
						}
						got = append(got, w)
					case err := <-pc.Errors():
						t.Fatalf("consume partition %d: %v", p, err)
					case <-time.After(20 * time.Second):
						t.Fatalf("partition %d: timed out", p)
					}
					if got[len(got)-1].Offset == high-1 {
						break
					}
				}
				pc.Close()
			}
			checkConsumed(t, recs, got)
			checkStoredCodec(t, ts, topic, 3, c.want)
		})
	}
}

// saramaHandler hands each consumed message's value to got, marking it.
type saramaHandler struct {
	got chan string
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.got <- string(m.Value)
		s.MarkMessage(m, "")
	}
	return nil
}

// sarama's consumer group (its own JoinGroup/SyncGroup/Heartbeat/
// OffsetCommit versions): consume everything, commit, and a second session
// of the group starts after what was committed.
func TestSaramaConsumerGroupCommits(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	createTopic(t, ts, "sarama-group", 2)
	produceTo(t, ts, "sarama-group", 2, 20, "first")
	cfg := saramaConfig(sarama.CompressionNone)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
	run := func(want int) []string {
		t.Helper()
		g, err := sarama.NewConsumerGroup([]string{ts.addr}, "sarama-g", cfg)
		if err != nil {
			t.Fatalf("consumer group: %v", err)
		}
		h := &saramaHandler{got: make(chan string, 100)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Consume(ctx, []string{"sarama-group"}, h) }()
		var got []string
		timeout := time.After(30 * time.Second)
		for len(got) < want {
			select {
			case v := <-h.got:
				got = append(got, v)
			case err := <-g.Errors():
				t.Fatalf("group error: %v", err)
			case <-timeout:
				t.Fatalf("consumed %d of %d", len(got), want)
			}
		}
		cancel()
		<-done
		if err := g.Close(); err != nil {
			t.Fatalf("close group: %v", err)
		}
		return got
	}
	if got := run(40); len(got) != 40 {
		t.Fatalf("first session consumed %d", len(got))
	}
	produceTo(t, ts, "sarama-group", 2, 5, "second")
	for _, v := range run(10) {
		if !strings.HasPrefix(v, "second") {
			t.Fatalf("second session re-read %q: committed offsets were not used", v)
		}
	}
}
