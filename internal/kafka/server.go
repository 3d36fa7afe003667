package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace"
)

// Config configures a Server. The zero value of every field is a usable
// default.
type Config struct {
	// Addr is the HOST:PORT that ListenAndServe listens on; default
	// "127.0.0.1:9092".
	Addr string
	// AdvertisedHost and AdvertisedPort are the address clients are told
	// to connect to (Metadata, FindCoordinator, DescribeCluster). Default:
	// the listener's own address; a wildcard host (0.0.0.0, ::) becomes
	// the machine's host name.
	AdvertisedHost string
	AdvertisedPort int32
	// MaxFrameBytes bounds one request; default 100 MiB. A client that
	// sends (or claims) a larger one is disconnected.
	MaxFrameBytes int32
	// ReadTimeout bounds receiving one request once its size prefix has
	// arrived; default 30 s. It is what disconnects a slow-loris client.
	ReadTimeout time.Duration
	// IdleTimeout disconnects a client that sends nothing for this long
	// while no request of its is in flight; default 10 minutes (Kafka's
	// connections.max.idle.ms).
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response; default 30 s.
	WriteTimeout time.Duration
	// MaxConnections bounds concurrent client connections; default 10000.
	// Connections past it are closed as soon as they are accepted.
	MaxConnections int
	// AcksOneWaitsForFsync makes acks=1 produce requests wait for the
	// fsync as acks=all ones do. By default acks=1 is answered once the
	// log accepted the batch (millrace.AckMemory).
	AcksOneWaitsForFsync bool
	// NodeID is the broker id given to clients; default 0.
	NodeID int32
	// ClusterID is the cluster id given to clients. Default: a random id
	// generated once and kept in the data directory's manifest.
	ClusterID string
	// MaxFetchBytes caps one Fetch response whatever the client asks;
	// default 64 MiB.
	MaxFetchBytes int32
	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session
	// timeouts consumer group members may ask for; defaults 6 s and 30
	// minutes, as in Kafka.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration
	// GroupInitialRebalanceDelay holds the first rebalance of an empty
	// group for this long so that members starting together land in one
	// generation; default 0 (Kafka's group.initial.rebalance.delay.ms is
	// 3 s).
	GroupInitialRebalanceDelay time.Duration
	// ReadOnly, if set, is asked before every produce: while it returns
	// true (millrace serve's low-disk mode) produces are refused with
	// KAFKA_STORAGE_ERROR, which clients retry.
	ReadOnly func() bool
	// Logger receives connection and protocol errors; default discards.
	Logger *slog.Logger
	// OnRequest, if set, is called by each connection's writer goroutine
	// once a response is written (or, for acks=0 produce, the request is
	// done), with the API's name and the time since the request had been
	// read whole. It must be quick.
	OnRequest func(api string, took time.Duration)
	// OnShed, if set, is called for each partition batch of a produce
	// refused because its shard is at its memory bound (answered with
	// REQUEST_TIMED_OUT and a throttle time, which clients retry).
	OnShed func()
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9092"
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 100 << 20
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.MaxFetchBytes <= 0 {
		c.MaxFetchBytes = 64 << 20
	}
	if c.GroupMinSessionTimeout <= 0 {
		c.GroupMinSessionTimeout = 6 * time.Second
	}
	if c.GroupMaxSessionTimeout <= 0 {
		c.GroupMaxSessionTimeout = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("kafka: server closed")

// Server serves the Kafka protocol over a millrace.Log. New starts its
// group coordinator; Shutdown stops everything it started. It does not
// close the Log.
type Server struct {
	log    *millrace.Log
	cfg    Config
	logger *slog.Logger
	coord  *coordinator
	topics topicIDCache

	closing atomic.Bool
	quit    chan struct{} // closed when Shutdown starts: ends long polls

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	advHost   string
	advPort   int32

	wg sync.WaitGroup // connections and their asynchronous handlers

	// panicHook, if set (by tests), is called with every recovered panic.
	panicHook func(v any)
}

// reportPanic logs a recovered panic with its stack.
func (s *Server) reportPanic(v any, args ...any) {
	s.logger.Error("kafka: panic; closing the connection", append(args, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
	if s.panicHook != nil {
		s.panicHook(v)
	}
}

// New returns a Server for l. It reads or creates the cluster id.
func New(l *millrace.Log, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.ClusterID == "" {
		id, err := clusterID(l)
		if err != nil {
			return nil, err
		}
		cfg.ClusterID = id
	}
	s := &Server{log: l, cfg: cfg, logger: cfg.Logger, quit: make(chan struct{}),
		listeners: make(map[net.Listener]struct{}), conns: make(map[*conn]struct{})}
	s.advHost, s.advPort = cfg.AdvertisedHost, cfg.AdvertisedPort
	s.coord = newCoordinator(s)
	return s, nil
}

// clusterID returns the cluster id kept in the manifest, creating it (a
// random 16 bytes in URL-safe base64, Kafka's format) on first use.
func clusterID(l *millrace.Log) (string, error) {
	const key = "kafka.cluster_id"
	id, ok, err := l.GetMeta(key)
	if err != nil {
		return "", fmt.Errorf("kafka: read cluster id: %w", err)
	}
	if ok && id != "" {
		return id, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("kafka: generate cluster id: %w", err)
	}
	id = base64.RawURLEncoding.EncodeToString(b[:])
	if err := l.SetMeta(key, id); err != nil {
		return "", fmt.Errorf("kafka: store cluster id: %w", err)
	}
	return id, nil
}

// ListenAndServe listens on Config.Addr and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("kafka: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until ln fails or Shutdown is called
// (then it returns ErrServerClosed). Serve closes ln when it returns. The
// first listener served fixes the default advertised address.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.setAdvertisedLocked(ln.Addr())
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn("kafka: accept failed; retrying", "addr", ln.Addr(), "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("kafka: accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		s.startConn(nc)
	}
}

// setAdvertisedLocked fills in the advertised host and port that Config
// left empty from the first listener's address.
func (s *Server) setAdvertisedLocked(a net.Addr) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return
	}
	if s.advHost == "" {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if h, err := os.Hostname(); err == nil {
				host = h
			}
		}
		s.advHost = host
	}
	if s.advPort == 0 {
		p, _ := strconv.Atoi(port)
		s.advPort = int32(p)
	}
}

// advertised returns the host and port clients are told to use.
func (s *Server) advertised() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advHost, s.advPort
}

// startConn registers a new connection and starts serving it, or closes it
// at once past MaxConnections or during shutdown.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closing.Load() || len(s.conns) >= s.cfg.MaxConnections {
		n := len(s.conns)
		s.mu.Unlock()
		s.logger.Warn("kafka: refusing connection", "remote", nc.RemoteAddr(), "connections", n,
			"max_connections", s.cfg.MaxConnections, "shutting_down", s.closing.Load())
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Connections returns the number of open client connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting connections, stops reading new requests, lets
// the requests in flight finish (long-polling fetches return at once with
// what they have; pending group joins are told to find the coordinator
// again), writes their responses and closes every connection. If ctx ends
// first, the remaining connections are closed at once and ctx's error is
// returned. The Log is left open: close it after Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing.Swap(true) {
		s.mu.Unlock()
		return ErrServerClosed
	}
	close(s.quit)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	s.coord.stop()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// goAsync runs fn for a request on its own goroutine, owned by the server
// (Shutdown waits for it). A panic in fn is logged and closes the
// connection instead of crashing the server.
func (s *Server) goAsync(r *request, fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer r.c.recoverPanic("handler " + r.name())
		fn()
	}()
}
