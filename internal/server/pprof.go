package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves the runtime's profiles on cfg.PprofAddr, if set, on a
// listener of its own so that the API's handler never exposes them. Its
// accept loop is one more goroutine owned by the Server; Shutdown closes
// it (stopPprof).
func (s *Server) startPprof() error {
	if s.cfg.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("listen for pprof on %s: %w", s.cfg.PprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprofSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.pprofLn = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.pprofSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Warn("pprof listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.logger.Info("serving runtime profiles", "pprof_addr", ln.Addr().String())
	return nil
}

// PprofAddr returns the address the profiles are served on, or "" if none.
func (s *Server) PprofAddr() string {
	if s.pprofLn == nil {
		return ""
	}
	return s.pprofLn.Addr().String()
}

// stopPprof closes the profile listener and any profile being taken.
func (s *Server) stopPprof() {
	if s.pprofSrv != nil {
		s.pprofSrv.Close()
	}
}
