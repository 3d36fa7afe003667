package httpapi

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/metrics"
)

// Options configures the API.
type Options struct {
	// Log is the data the API serves. Required.
	Log *millrace.Log
	// Metrics receives counts and latencies, and serves /metrics; default
	// a private set.
	Metrics *metrics.Metrics
	// Logger receives panics and shutdown notes; default discards.
	Logger *slog.Logger
	// MaxRequestBytes bounds a request body (413 past it); default 32 MiB.
	MaxRequestBytes int64
	// AutoCreate makes an append to an unknown topic create it with
	// DefaultPartitions partitions and the Log's default configuration.
	AutoCreate        bool
	DefaultPartitions int32
	// DefaultConfig is the configuration the Log gives topics created
	// without one (Options.DefaultConfig of the Log); a topic created or
	// altered with a partial config gets these values for the keys it
	// leaves out or sets to null. Default millrace.DefaultTopicConfig().
	DefaultConfig *millrace.TopicConfig
	// Heartbeat is how often an idle follow stream gets a keep-alive (an
	// SSE comment); default 15 s.
	Heartbeat time.Duration
}

// API is the HTTP handler set. Create it with New; it is safe for
// concurrent use.
type API struct {
	opts    Options
	log     *millrace.Log
	met     *metrics.Metrics
	logger  *slog.Logger
	mux     *http.ServeMux
	handler http.Handler

	readOnly   atomic.Bool
	ready      atomic.Bool
	spread     atomic.Uint32 // round robin for keyless, unpartitioned appends
	drainCtx   context.Context
	drainStart context.CancelFunc
}

// New returns an API serving opts.Log. It starts not ready: call SetReady
// once the server is listening.
func New(opts Options) *API {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 32 << 20
	}
	if opts.DefaultPartitions <= 0 {
		opts.DefaultPartitions = 1
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(metrics.Source{Log: opts.Log})
	}
	a := &API{opts: opts, log: opts.Log, met: opts.Metrics, logger: opts.Logger, mux: http.NewServeMux()}
	a.drainCtx, a.drainStart = context.WithCancel(context.Background())
	for _, rt := range a.routes() {
		a.mux.HandleFunc(rt.pattern, rt.handler)
	}
	a.mux.HandleFunc("/", a.notFound)
	a.handler = a.instrument(a.mux)
	return a
}

type route struct {
	pattern string
	handler http.HandlerFunc
}

// routes lists every route of the API. openapi.json must describe the same
// set (TestOpenAPIMatchesRoutes).
func (a *API) routes() []route {
	return []route{
		{"GET /healthz", a.healthz},
		{"GET /readyz", a.readyz},
		{"GET /metrics", a.met.Handler().ServeHTTP},
		{"GET /v1/openapi.json", serveOpenAPI},
		{"POST /v1/topics", a.createTopic},
		{"GET /v1/topics", a.listTopics},
		{"GET /v1/topics/{topic}", a.describeTopic},
		{"PATCH /v1/topics/{topic}", a.alterTopic},
		{"DELETE /v1/topics/{topic}", a.deleteTopic},
		{"POST /v1/topics/{topic}/records", a.appendRecords},
		{"GET /v1/topics/{topic}/records", a.readMerged},
		{"GET /v1/topics/{topic}/count", a.count},
		{"GET /v1/topics/{topic}/partitions/{partition}/records", a.readPartition},
		{"POST /v1/topics/{topic}/partitions/{partition}/truncate", a.truncate},
	}
}

// Handler returns the API's root handler.
func (a *API) Handler() http.Handler { return a.handler }

// SetReadOnly turns read-only mode on or off: while on, appends and topic
// creation and changes get 503; reads, deletes and truncation go on.
func (a *API) SetReadOnly(on bool) { a.readOnly.Store(on) }

// ReadOnly reports whether read-only mode is on.
func (a *API) ReadOnly() bool { return a.readOnly.Load() }

// SetReady sets what /readyz answers.
func (a *API) SetReady(on bool) { a.ready.Store(on) }

// Drain ends every long-poll and follow stream at once (they answer with
// what they have) and makes /readyz fail, so that http.Server.Shutdown does
// not wait for streams that would never end by themselves.
func (a *API) Drain() {
	a.ready.Store(false)
	a.drainStart()
}

// streamCtx returns a context that ends when the client goes away or the
// API drains.
func (a *API) streamCtx(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(a.drainCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case a.drainCtx.Err() != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
	case !a.ready.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "read_only": a.readOnly.Load()})
	}
}

// notFound answers paths no route matches with 404, and paths a route
// matches under another method with 405 and an Allow header.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := a.mux.Handler(probe); pat != "/" && pat != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
			r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeError(w, errorf(http.StatusNotFound, "not_found", "no route for %s %s", r.Method, r.URL.Path))
}

// instrument wraps the mux: it recovers panics (logged with their stack,
// answered with a 500 if nothing was written yet), records each request's
// latency by route pattern and status code, and logs each request at debug
// level.
func (a *API) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.logger.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !sw.wrote {
					writeError(sw, errorf(http.StatusInternalServerError, "internal", "internal error while serving %s %s", r.Method, r.URL.Path))
				}
			}
			pattern := r.Pattern
			if pattern == "" || pattern == "/" {
				pattern = "unmatched"
			}
			took := time.Since(start)
			a.met.ObserveHTTP(pattern, sw.code(), took)
			if a.logger.Enabled(r.Context(), slog.LevelDebug) {
				a.logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.code(), "took", took.String(), "remote", r.RemoteAddr)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(p)
}

// Flush lets streams flush through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		if !s.wrote {
			s.status, s.wrote = http.StatusOK, true
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) code() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.status
}

//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
