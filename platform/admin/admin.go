// Package admin serves a service's operational endpoints: /healthz (the
// process is alive), /readyz (its dependencies answer) and /metrics.
// It never serves user traffic.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the admin server's listen address.
type Config struct {
	Addr string `koanf:"addr"`
}

// Check reports whether one dependency is ready.
type Check func(ctx context.Context) error

// Server is the admin HTTP server.
type Server struct {
	log    *slog.Logger
	srv    *http.Server
	ln     net.Listener
	mu     sync.Mutex
	checks map[string]Check
}

// New listens on addr (":0" picks a port) and prepares the handlers.
func New(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	s := &Server{log: log, ln: ln, checks: map[string]Check{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AddCheck registers a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()
	failed := false
	var body []byte
	for name, c := range checks {
		if err := c(ctx); err != nil {
			failed = true
			body = fmt.Appendf(body, "%s: %v\n", name, err)
		} else {
			body = fmt.Appendf(body, "%s: ok\n", name)
		}
	}
	if failed {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Write(body)
}

// Run serves until ctx is done, then shuts down within 5 seconds.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("admin server listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin shutdown: %w", err)
	}
	return nil
}
