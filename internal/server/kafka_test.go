package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace/internal/config"
)

// millrace serve answers Kafka clients beside HTTP: records produced over
// Kafka are read over HTTP, and the advertised address is the configured
// one.
func TestServeSpeaksKafka(t *testing.T) {
	s := startTest(t, func(c *config.Config) { c.KafkaAdvertisedAddr = "kafka.example:19092" }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("kk"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The seed broker answers metadata itself; ask it directly, since the
	// advertised name does not resolve here.
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || len(meta.Brokers) != 1 || meta.Brokers[0].Host != "kafka.example" || meta.Brokers[0].Port != 19092 {
		t.Fatalf("metadata brokers %+v (%v), want kafka.example:19092", meta, err)
	}
	cl.Close()

	s2 := startTest(t, nil, nil)
	cl, err = kgo.NewClient(kgo.SeedBrokers(s2.KafkaAddr()), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("kk"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
			t.Fatalf("produce over Kafka: %v", err)
		}
	}
	if st, body := get(t, "http://"+s2.Addr()+"/v1/topics/kk/count"); st != http.StatusOK || !strings.Contains(body, `"count":10`) {
		t.Fatalf("count over HTTP after producing over Kafka: %d %s", st, body)
	}
	// Each Kafka request was timed, by API. A request is timed once its
	// response is written, which the client may see first: wait for it.
	var m string
	waitFor(t, "10 timed Produce requests", func() bool {
		_, m = get(t, "http://"+s2.Addr()+"/metrics")
		return strings.Contains(m, `millrace_kafka_request_duration_seconds_count{api="Produce"} 10`+"\n")
	})
	if want := `millrace_kafka_request_duration_seconds_count{api="Metadata"}`; !strings.Contains(m, want) || strings.Contains(m, want+" 0\n") {
		t.Fatalf("metrics lack %s:\n%s", want, grepLines(m, "kafka_request_duration_seconds_count"))
	}
	cl.Close()
	if err := s2.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// grepLines returns the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
