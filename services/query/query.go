// Package query serves Picket's read API and dashboard over HTTP.
package query

import (
	"context"
	"errors"
	"fmt"
	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/query/api"
)

// Config is the query service's configuration.
type Config struct {
	// Addr is the API's listen address.
	Addr       string              `koanf:"addr"`
	ClickHouse clickhouse.Config   `koanf:"clickhouse"`
	Admin      admin.Config        `koanf:"admin"`
	Log        telemetry.LogConfig `koanf:"log"`
}

// DefaultConfig is the default configuration.
func DefaultConfig() Config {
	return Config{
		Addr:       ":8080",
		ClickHouse: clickhouse.DefaultConfig(),
		Admin:      admin.Config{Addr: ":9104"},
		Log:        telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr: must not be empty")
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Server is the API's HTTP server.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen binds addr (":0" picks a port) for the API over st.
func Listen(addr string, st *store.Store, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("query listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           api.New(st, log).Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	return &Server{ln: ln, srv: srv, log: log}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then drains within 10 seconds.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("query API listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("query server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
