package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestTopicLabelsAreBounded(t *testing.T) {
	m := New(Source{})
	for i := range MaxTopicLabels + 10 {
		m.Appended(fmt.Sprintf("t%d", i), 1, 10)
	}
	if got := value(m.appendRecords.WithLabelValues(OtherTopic)); got != 10 {
		t.Fatalf("%v records under %q, want 10", got, OtherTopic)
	}
	m.ForgetTopic("t0")
	m.Appended("late", 1, 1)
	if got := value(m.appendRecords.WithLabelValues("late")); got != 1 {
		t.Fatalf("a freed label is not reused: %v", got)
	}
}

func TestDirUsageCountsFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "f"), make([]byte, 100<<10), 0o644)
	if n := DirUsage(dir); n < 100<<10 {
		t.Fatalf("DirUsage = %d, want at least 100 KiB", n)
	}
	if n := DirUsage(filepath.Join(dir, "missing")); n != 0 {
		t.Fatalf("DirUsage of a missing dir = %d", n)
	}
}

func value(c prometheus.Counter) float64 {
	var d dto.Metric
	c.Write(&d)
	return d.GetCounter().GetValue()
}
