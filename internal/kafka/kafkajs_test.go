package kafka

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/millrace/millrace"
)

// kafkajs against the server: runs test/kafkajs (node --test) with
// MILLRACE_KAFKA pointing at an in-process server. Skipped unless node is
// installed and the project's modules are (cd test/kafkajs && npm ci).
func TestKafkaJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "kafkajs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Skip("test/kafkajs has no node_modules (cd test/kafkajs && npm ci)")
	}
	ts := startServer(t, "", Config{}, millrace.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MILLRACE_KAFKA="+ts.addr, "KAFKAJS_NO_PARTITIONER_WARNING=1")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("kafkajs tests failed: %v", err)
	}
}
