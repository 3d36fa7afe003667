package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/millrace/millrace"
)

// testServer is a Kafka server over a Log in a test directory, on an
// ephemeral loopback port.
type testServer struct {
	t    *testing.T
	dir  string
	log  *millrace.Log
	srv  *Server
	addr string
	done chan error
	cfg  Config
	opts millrace.Options
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MILLRACE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer opens a Log in dir (a fresh temp dir if empty) and serves
// it. The server and Log are shut down at the end of the test.
func startServer(t *testing.T, dir string, cfg Config, opts millrace.Options) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ts := &testServer{t: t, dir: dir, cfg: cfg, opts: opts}
	ts.start("127.0.0.1:0")
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start(addr string) {
	t := ts.t
	t.Helper()
	opts := ts.opts
	opts.Dir = ts.dir
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := millrace.Open(opts)
	if err != nil {
		t.Fatalf("open log in %s: %v", ts.dir, err)
	}
	cfg := ts.cfg
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv, err := New(l, cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	var ln net.Listener
	for range 50 { // the port of a restarted server may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ts.log, ts.srv, ts.addr, ts.done = l, srv, ln.Addr().String(), make(chan error, 1)
	go func() { ts.done <- srv.Serve(ln) }()
}

// stop shuts the server down, then closes the Log (the order millrace
// serve uses). Calling it twice is harmless.
func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		ts.t.Errorf("shutdown: %v", err)
	}
	if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
		ts.t.Errorf("serve returned %v, want ErrServerClosed", err)
	}
	if err := ts.log.Close(); err != nil {
		ts.t.Errorf("close log: %v", err)
	}
	ts.srv = nil
}

// restart stops the server and Log and opens them again on the same
// directory and port.
func (ts *testServer) restart() {
	ts.t.Helper()
	addr := ts.addr
	ts.stop()
	ts.start(addr)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
