package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the millrace binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "millrace-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "millrace")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(gobin, "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// served is a running `millrace serve`.
type served struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serve starts the binary on a random port over dir and waits until it
// logs its address.
func serve(t *testing.T, dir string) *served {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--data", dir, "--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "MILLRACE_CONFIG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1), logs: &syncBuffer{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.logs.Write(append(sc.Bytes(), '\n'))
			var line struct {
				Msg      string `json:"msg"`
				HTTPAddr string `json:"http_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "millrace serving" {
				addr <- line.HTTPAddr
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-s.done:
		t.Fatalf("millrace serve exited: %v\n%s", err, s.logs)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("millrace serve did not start:\n%s", s.logs)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("millrace serve exited with %v after SIGTERM:\n%s", err, s.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("millrace serve did not exit after SIGTERM:\n%s", s.logs)
	}
}

// run runs a CLI command against s and returns stdout, stderr and the
// exit status.
func (s *served) run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MILLRACE_SERVER="+s.url)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (s *served) mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := s.run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("millrace %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestCLIEndToEnd(t *testing.T) {
	s := serve(t, t.TempDir())
	out := s.mustRun(t, "", "topics", "create", "orders", "--partitions", "1", "--config", "retention.ms=86400000")
	if !strings.Contains(out, `created topic "orders" with 1 partitions`) {
		t.Fatalf("create: %q", out)
	}
	var in strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&in, "order %d: ünïcödé \"quoted\" \\ tab\there\n", i)
	}
	in.WriteString("\n") // an empty record
	in.WriteString("last line without newline")
	_, errOut, code := s.run(t, in.String(), "produce", "orders")
	if code != 0 || !strings.Contains(errOut, "produced 2502 records to orders") || !strings.Contains(errOut, "records/s") {
		t.Fatalf("produce: exit %d, stderr %q", code, errOut)
	}
	got := s.mustRun(t, "", "consume", "orders", "--format", "value")
	if got != in.String()+"\n" {
		t.Fatalf("consume --format value differs from what was produced:\n got %d bytes, first line %q\nwant %d bytes",
			len(got), strings.SplitN(got, "\n", 2)[0], len(in.String())+1)
	}
	first := s.mustRun(t, "", "consume", "orders", "--offset", "10", "--limit", "1")
	var rec struct {
		Offset int64  `json:"offset"`
		Value  string `json:"value"`
	}
	if err := json.Unmarshal([]byte(first), &rec); err != nil || rec.Offset != 10 || !strings.HasPrefix(rec.Value, "order 10:") {
		t.Fatalf("consume --offset 10 --limit 1: %q (%v)", first, err)
	}
	if out := s.mustRun(t, "", "topics", "describe", "orders"); !strings.Contains(out, "retention.ms=86400000") || !strings.Contains(out, "2502") {
		t.Fatalf("describe: %s", out)
	}
	if out := s.mustRun(t, "", "topics", "list"); !strings.Contains(out, "orders") {
		t.Fatalf("list: %s", out)
	}
	_, errOut, code = s.run(t, "", "consume", "nope")
	if code != 1 || strings.TrimSpace(errOut) != `millrace: topic "nope" not found` {
		t.Fatalf("consume of an unknown topic: exit %d, %q", code, errOut)
	}
	_, errOut, code = s.run(t, "", "produce")
	if code != 2 || !strings.HasPrefix(errOut, "millrace: produce: want exactly one topic") {
		t.Fatalf("produce without a topic: exit %d, %q", code, errOut)
	}
	_, errOut, code = s.run(t, "", "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d, %q", code, errOut)
	}
	for _, c := range []string{"serve", "topics", "produce", "consume", "version"} {
		out, _, code := s.run(t, "", c, "--help")
		if code != 0 || !strings.Contains(out, "Usage:") || (c != "version" && !strings.Contains(out, "Examples:")) {
			t.Fatalf("%s --help: exit %d\n%s", c, code, out)
		}
	}
	if out := s.mustRun(t, "", "version"); !strings.HasPrefix(out, "millrace ") {
		t.Fatalf("version: %q", out)
	}
	s.mustRun(t, "", "topics", "alter", "orders", "--partitions", "2")
	s.mustRun(t, "", "topics", "delete", "orders")
	s.stop(t)
	_, errOut, code = s.run(t, "", "topics", "list")
	if code != 1 || !strings.Contains(errOut, "cannot reach the server") {
		t.Fatalf("list with the server down: exit %d, %q", code, errOut)
	}
}

func TestCLIFollowSeesRecordsProducedLater(t *testing.T) {
	s := serve(t, t.TempDir())
	s.mustRun(t, "", "topics", "create", "live", "--partitions", "2")
	cmd := exec.Command(binary, "consume", "live", "--follow", "--format", "value", "--limit", "6", "--server", s.url)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The follower starts at the end: produce until it has seen 6
	// records (records produced before its streams opened are not seen).
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		select {
		case err := <-exited:
			if err != nil || strings.Count(out.String(), "\n") != 6 {
				t.Fatalf("consume --follow --limit 6: %v, output %q", err, out.String())
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("follower did not finish; output %q", out.String())
		}
		s.mustRun(t, fmt.Sprintf("k%d:v%d\n", i, i), "produce", "live", "--key-separator", ":")
	}
}

// Appends are running when SIGTERM arrives: every acknowledged record is
// there after a restart.
func TestGracefulShutdownKeepsEveryAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	s := serve(t, dir)
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var body strings.Builder
				vals := make([]string, 50)
				for j := range vals {
					vals[j] = fmt.Sprintf("w%d-%d-%d", w, i, j)
					fmt.Fprintf(&body, "{\"value\":%q}\n", vals[j])
				}
				resp, err := http.Post(s.url+"/v1/topics/g/records", "application/x-ndjson", strings.NewReader(body.String()))
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					for _, v := range vals {
						acked[v] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	waitAcked := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 2000 {
			break
		}
		if time.Now().After(waitAcked) {
			t.Fatalf("only %d records acknowledged", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.stop(t) // SIGTERM while the writers run
	close(stop)
	wg.Wait()

	s2 := serve(t, dir)
	got := s2.mustRun(t, "", "consume", "g", "--format", "value")
	stored := map[string]bool{}
	for _, v := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		stored[v] = true
	}
	missing := 0
	for v := range acked {
		if !stored[v] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records missing after a graceful restart", missing, len(acked))
	}
	if !strings.Contains(s.logs.String(), "closing the log") {
		t.Fatalf("shutdown did not log its steps:\n%s", s.logs)
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
	s2.stop(t)
}
