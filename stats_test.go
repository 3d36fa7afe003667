package millrace

import (
	"context"
	"testing"
)

func TestStatsReportTopicsPartitionsAndSegments(t *testing.T) {
	l := openT(t, Options{Dir: t.TempDir(), Shards: 2})
	if st := l.Stats(); st.Topics != 0 || len(st.Shards) != 2 {
		t.Fatalf("empty log: %+v", st)
	}
	l.CreateTopic("a", 3, nil)
	l.CreateTopic("b", 2, nil)
	if _, err := l.Append(context.Background(), "a", 0, recs(10, "x"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	segs, bytes := 0, int64(0)
	for _, s := range st.Shards {
		segs += s.Segments
		bytes += s.SegmentBytes
		if s.PendingBytes != 0 || s.Failed {
			t.Fatalf("shard after a durable append: %+v", s)
		}
	}
	if st.Topics != 2 || st.Partitions != 5 || segs < 1 || bytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	l.Close()
	if st := l.Stats(); st.Topics != 0 || st.Shards != nil {
		t.Fatalf("closed log: %+v", st)
	}
}
