package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
)

// With pprof_addr set, the runtime's profiles are served there, and only
// there: the API's own address does not expose them.
func TestPprofIsServedOnItsOwnAddressOnlyWhenAsked(t *testing.T) {
	s := startTest(t, func(c *config.Config) { c.PprofAddr = "127.0.0.1:0" }, nil)
	if s.PprofAddr() == "" {
		t.Fatal("pprof_addr was set but no profile listener started")
	}
	code, body := get(t, "http://"+s.PprofAddr()+"/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: %d %.200s", code, body)
	}
	if code, _ := get(t, "http://"+s.Addr()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("the API's address answered /debug/pprof/ with %d, want 404", code)
	}
	addr := s.PprofAddr()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get("http://" + addr + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		t.Fatalf("the profile listener still answers after Shutdown")
	}

	plain := startTest(t, nil, nil)
	if plain.PprofAddr() != "" {
		t.Fatalf("profiles served at %s with no pprof_addr", plain.PprofAddr())
	}
}

// A taken pprof address fails Start with a message naming it, and leaves
// nothing running: the data directory can be opened again at once.
func TestPprofOnATakenAddressFailsStart(t *testing.T) {
	first := startTest(t, func(c *config.Config) { c.PprofAddr = "127.0.0.1:0" }, nil)
	cfg := config.Default()
	cfg.Data, cfg.HTTPAddr, cfg.KafkaAddr, cfg.PprofAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", first.PprofAddr()
	_, err := Start(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "listen for pprof on "+first.PprofAddr()) {
		t.Fatalf("start with a taken pprof address: %v", err)
	}
	cfg.PprofAddr = ""
	again, err := Start(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("reopening after the failed start: %v", err)
	}
	again.Shutdown(context.Background())
}
