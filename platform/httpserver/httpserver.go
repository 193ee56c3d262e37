// Package httpserver is how every Picket HTTP server listens, serves and
// stops: the query API, the admin endpoints. A taken address is an error
// that names it; reads, writes and idle connections are bounded; a shutdown
// drains the requests in flight within a bound and then cuts the rest, so a
// slow client never holds a service's exit.
//
// It never decides what is served: the handler does.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Config bounds a server's connections. A zero field takes DefaultConfig's.
type Config struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the response: a handler's own deadline must be shorter.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the drain at shutdown; requests still running
	// then are cut.
	ShutdownTimeout time.Duration
}

// DefaultConfig suits Picket's small GET endpoints.
func DefaultConfig() Config {
	return Config{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ShutdownTimeout:   10 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&c.ReadTimeout, &d.ReadTimeout},
		{&c.WriteTimeout, &d.WriteTimeout}, {&c.IdleTimeout, &d.IdleTimeout}, {&c.ShutdownTimeout, &d.ShutdownTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return c
}

// Server is one listening HTTP server.
type Server struct {
	name string
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	log  *slog.Logger
	// open counts the connections not closed yet, for the shutdown log.
	open atomic.Int64
}

// Listen binds addr (":0" picks a port) for h. name says which server it is
// ("query", "admin") in its errors and logs; an error names the address.
func Listen(name, addr string, h http.Handler, log *slog.Logger, c Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		// "query listen 127.0.0.1:8080: listen tcp 127.0.0.1:8080: bind:
		// address already in use"; callers that say what to do about a
		// taken address test errors.Is(err, syscall.EADDRINUSE).
		return nil, fmt.Errorf("%s listen %s: %w", name, addr, err)
	}
	c = c.withDefaults()
	s := &Server{name: name, cfg: c, ln: ln, log: log}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.open.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.open.Add(-1)
			}
		},
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Config is the server's effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Run serves until ctx is done, then stops accepting, lets the requests in
// flight finish within ShutdownTimeout and cuts those still running (saying
// so in a warning). It returns early with the error if serving fails. Run
// once per Server.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info(s.name+" server listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("%s server on %s: %w", s.name, s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn(s.name+" server: requests still running at the shutdown deadline were cut",
			"addr", s.Addr(), "shutdown_timeout", s.cfg.ShutdownTimeout, "connections", s.open.Load())
		err = s.srv.Close()
	}
	<-errc // http.ErrServerClosed, now that Shutdown or Close returned
	if err != nil {
		return fmt.Errorf("%s server on %s: shutdown: %w", s.name, s.Addr(), err)
	}
	return nil
}

// Close releases the listener of a server that will not Run (a start that
// failed after Listen); after Run it does nothing harmful.
func (s *Server) Close() error {
	err := s.srv.Close()
	if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	return err
}
