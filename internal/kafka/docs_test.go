package kafka

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// docs/kafka.md lists every served API with the versions ApiVersions
// advertises, and nothing else.
func TestDocsListEveryServedAPI(t *testing.T) {
	doc, err := os.ReadFile("../../docs/kafka.md")
	if err != nil {
		t.Fatalf("read docs/kafka.md: %v", err)
	}
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		var key int16
		if n, _ := fmt.Sscanf(line, "| %d |", &key); n == 1 && strings.Count(line, "|") == 4 {
			rows++
			a, ok := apis[key]
			want := fmt.Sprintf("| %d | %s | %d–%d |", key, kmsg.NameForKey(key), a.min, a.max)
			if !ok || line != want {
				t.Errorf("docs/kafka.md has %q; the server serves %q (served: %v)", line, want, ok)
			}
		}
	}
	if rows != len(apis) {
		t.Errorf("docs/kafka.md lists %d APIs, the server serves %d", rows, len(apis))
	}
}
