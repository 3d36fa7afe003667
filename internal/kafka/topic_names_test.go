package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

// Topic names with invalid characters or of 10,000 characters are refused
// with Kafka's error codes on every path that takes a name (create,
// metadata with auto-create, produce, fetch), and the server keeps serving.
func TestInvalidAndHugeTopicNamesAreRefusedCleanly(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	adm, ctx := adminClient(t, ts)
	cl := newFranz(t, ts)
	for _, name := range []string{"bad/name", "spaces are not allowed", strings.Repeat("x", 10000), "..", "ünïcode"} {
		short := name[:min(len(name), 20)]
		r, err := adm.CreateTopic(ctx, 1, 1, nil, name)
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Fatalf("create %q: %v, want INVALID_TOPIC_EXCEPTION", short, err)
		}

		meta := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, mt)
		meta.AllowAutoTopicCreation = true
		resp, err := meta.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("metadata for %q: %v", short, err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode == 0 {
			t.Fatalf("metadata with auto-create for %q answered without an error: %+v", short, resp.Topics)
		}

		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		res := cl.ProduceSync(pctx, &kgo.Record{Topic: name, Value: []byte("v")})
		cancel()
		if res.FirstErr() == nil {
			t.Fatalf("produce to %q was acknowledged", short)
		}
		if _, err := ts.log.Topic(name); !errors.Is(err, millrace.ErrUnknownTopic) {
			t.Fatalf("topic %q exists after the refusals (%v)", short, err)
		}
	}
	// Still serving.
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "fine"); err != nil || r.Err != nil {
		t.Fatalf("create after the bad names: %v %v", err, r.Err)
	}
}
