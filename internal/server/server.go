// Package server is `millrace serve`: it opens the data directory, serves
// the HTTP API, watches free disk space, runs retention, and shuts all of
// it down in order. The command line (internal/cli) builds a Config and
// calls Run; tests call Start and Shutdown directly, on 127.0.0.1:0 and a
// temporary directory.
//
// # Goroutines
//
// Start launches three, all owned by the Server and stopped by Shutdown
// (a fourth, the pprof listener of pprof.go, when pprof_addr is set):
// the HTTP server's accept loop, the disk monitor (free space every
// disk_check_interval; below min_free_disk_bytes the API turns read-only,
// and back when space returns) and the retention loop (Log.EnforceRetention
// every retention_interval, counted in the metrics). kafka.go adds the
// Kafka protocol listener (internal/kafka) on kafka_addr, with its own
// connection and group-coordinator goroutines; it refuses produces while
// the API is read-only.
//
// # Shutdown
//
// Shutdown first stops the Kafka listener (in-flight requests finish, long
// polls end at once), then drains the API (readiness fails, long-polls and
// follow streams end), lets in-flight requests finish for up to shutdown_timeout
// (http.Server.Shutdown; past it, connections are closed and their
// requests fail), stops the monitors, and closes the Log, which writes
// and fsyncs everything accepted. An append acknowledged before Shutdown
// began is therefore on disk when it returns.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/httpapi"
	"github.com/millrace/millrace/internal/kafka"
	"github.com/millrace/millrace/internal/metrics"
	"github.com/millrace/millrace/internal/vfs"
)

// Options are what Start needs besides the Config: mostly test seams.
type Options struct {
	Config config.Config
	// Logger defaults to NewLogger(Config, os.Stderr).
	Logger *slog.Logger
	// FS is the file system of the commit logs; default the real one.
	// Tests pass a vfs.ErrorFS to stall or fail fsyncs.
	FS vfs.FS
	// FreeSpace returns the free bytes of the file system holding dir;
	// default statfs. Tests inject a full disk with it.
	FreeSpace func(dir string) (uint64, error)
	// Heartbeat overrides the follow keep-alive period (tests).
	Heartbeat time.Duration
	// Version is reported at startup.
	Version string
}

// Server is a running millrace serve.
type Server struct {
	cfg     config.Config
	logger  *slog.Logger
	log     *millrace.Log
	api     *httpapi.API
	met     *metrics.Metrics
	httpSrv *http.Server
	ln      net.Listener
	free    func(string) (uint64, error)

	kafka   *kafka.Server // the Kafka listener (kafka.go)
	kafkaLn net.Listener

	pprofSrv *http.Server // runtime profiles, if pprof_addr is set (pprof.go)
	pprofLn  net.Listener

	freeBytes atomic.Uint64
	freeKnown atomic.Bool
	// diskErrLogged is touched only by checkDisk, which runs in Start
	// and then only in diskLoop.
	diskErrLogged bool

	serveErr chan error // the accept loop's error, if it fails
	quit     chan struct{}
	wg       sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// Start opens the data directory (recovering it), starts listening and
// serving, and returns once the server is ready.
func Start(opts Options) (*Server, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = NewLogger(cfg, nil)
	}
	s := &Server{cfg: cfg, logger: logger, free: opts.FreeSpace, serveErr: make(chan error, 1), quit: make(chan struct{})}
	if s.free == nil {
		s.free = FreeSpace
	}
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit))
	}
	if cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	lopts := cfg.LogOptions()
	lopts.Logger = logger.With("component", "log")
	lopts.FS = opts.FS
	// The engine reports group commits and retention passes through
	// hooks; the metrics exist only once the Log is open, hence metp.
	var metp atomic.Pointer[metrics.Metrics]
	lopts.OnFlush = func(shard int32, f millrace.FlushInfo) {
		if m := metp.Load(); m != nil {
			m.Flush(shard, f)
		}
	}
	lopts.OnRetention = func(rep millrace.RetentionReport) {
		if m := metp.Load(); m != nil {
			m.Retention(rep)
		}
	}
	started := time.Now()
	l, err := millrace.Open(lopts)
	if err != nil {
		return nil, fmt.Errorf("open data directory %s: %w", cfg.Data, err)
	}
	s.log = l
	s.met = metrics.New(metrics.Source{Log: l, DataDir: lopts.Dir, ReadOnly: func() bool { return s.api.ReadOnly() },
		FreeBytes: func() (uint64, bool) { return s.freeBytes.Load(), s.freeKnown.Load() }})
	metp.Store(s.met)
	tc := cfg.TopicConfig()
	s.api = httpapi.New(httpapi.Options{Log: l, Metrics: s.met, Logger: logger.With("component", "http"),
		MaxRequestBytes: int64(cfg.MaxRequestBytes), AutoCreate: cfg.AutoCreate,
		DefaultPartitions: cfg.DefaultTopic.Partitions, DefaultConfig: &tc, Heartbeat: opts.Heartbeat})
	s.checkDisk() // read-only before the first request if the disk is full
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	s.ln = ln
	s.httpSrv = &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
		}
	}()
	go s.diskLoop()
	if err := s.startKafka(l); err != nil {
		s.httpSrv.Close()
		close(s.quit)
		s.wg.Wait()
		l.Close()
		return nil, err
	}
	if err := s.startPprof(); err != nil {
		s.stopKafka(context.Background())
		s.httpSrv.Close()
		close(s.quit)
		s.wg.Wait()
		l.Close()
		return nil, err
	}
	s.api.SetReady(true)
	logger.Info("millrace serving", "version", opts.Version, "http_addr", ln.Addr().String(), "kafka_addr", s.KafkaAddr(),
		"data", cfg.Data, "fsync", cfg.Fsync, "shards", cfg.Shards, "recovered_in", time.Since(started).Round(time.Millisecond).String())
	return s, nil
}

// Addr returns the address the HTTP API listens on (with the real port
// when the configured one was 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Log returns the server's Log.
func (s *Server) Log() *millrace.Log { return s.log }

// API returns the server's HTTP API.
func (s *Server) API() *httpapi.API { return s.api }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.met }

// Shutdown stops the server: see the package documentation. ctx bounds the
// wait for in-flight requests on top of the configured shutdown_timeout.
// It is safe to call more than once; later calls return the first result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *Server) shutdown(ctx context.Context) error {
	start := time.Now()
	s.logger.Info("shutting down: draining HTTP requests", "timeout", s.cfg.ShutdownTimeout.String())
	s.api.Drain()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.ShutdownTimeout))
	defer cancel()
	var errs []error
	s.stopKafka(ctx)
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		s.logger.Warn("in-flight requests did not finish in time; closing their connections", "err", err)
		s.httpSrv.Close()
	}
	s.stopPprof()
	close(s.quit)
	s.wg.Wait()
	s.logger.Info("closing the log: flushing and syncing")
	if err := s.log.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close log: %w", err))
	}
	s.logger.Info("shut down", "took", time.Since(start).Round(time.Millisecond).String())
	return errors.Join(errs...)
}

// Run starts the server and serves until ctx is done (the command line
// cancels it on SIGTERM or SIGINT) or serving fails, then shuts down.
func Run(ctx context.Context, opts Options) error {
	s, err := Start(opts)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
		s.logger.Info("signal received", "cause", context.Cause(ctx))
	case serveErr = <-s.serveErr:
		s.logger.Error("serving failed", "err", serveErr)
	}
	return errors.Join(serveErr, s.Shutdown(context.Background()))
}

// NewLogger returns the slog logger the configuration asks for, writing to
// w (os.Stderr if nil).
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if w == nil {
		w = stderr
	}
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = slog.LevelInfo
	}
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}
