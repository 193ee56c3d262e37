// Package admin serves a service's operational endpoints: /healthz (the
// process is alive), /readyz (its dependencies answer) and /metrics.
// It never serves user traffic.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/picket-dev/picket/platform/httpserver"
)

// Config is the admin server's listen address.
type Config struct {
	Addr string `koanf:"addr"`
}

// Check reports whether one dependency is ready.
type Check func(ctx context.Context) error

// Server is the admin HTTP server. Its Run serves until the context is done
// and then shuts down within 5 seconds; Addr is the bound address.
type Server struct {
	*httpserver.Server
	mu     sync.Mutex
	checks map[string]Check
}

// shutdownTimeout bounds the admin server's drain: its requests are short.
const shutdownTimeout = 5 * time.Second

// New listens on addr (":0" picks a port) and prepares the handlers.
func New(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	s := &Server{checks: map[string]Check{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	cfg := httpserver.DefaultConfig()
	cfg.ShutdownTimeout = shutdownTimeout
	srv, err := httpserver.Listen("admin", addr, mux, log, cfg)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	return s, nil
}

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
