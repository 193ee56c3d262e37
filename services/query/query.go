// Package query serves Picket's read API and dashboard over HTTP. It never
// writes to the store.
package query

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/httpserver"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/query/api"
)

// Config is the query service's configuration.
type Config struct {
	// Addr is the API's listen address.
	Addr string `koanf:"addr"`
	// RequestTimeout bounds each request's store calls; a request that
	// reaches it is answered 504.
	RequestTimeout time.Duration `koanf:"request_timeout"`
	// SLOs are the service level objectives served at /api/v1/slos, each
	// over the checks it names or selects by label.
	SLOs       []api.SLO           `koanf:"slos"`
	ClickHouse clickhouse.Config   `koanf:"clickhouse"`
	Admin      admin.Config        `koanf:"admin"`
	Log        telemetry.LogConfig `koanf:"log"`
}

// maxRequestTimeout bounds request_timeout: a dashboard is not a batch job.
const maxRequestTimeout = 5 * time.Minute

// DefaultConfig is the default configuration.
func DefaultConfig() Config {
	return Config{
		Addr:           ":8080",
		RequestTimeout: api.DefaultRequestTimeout,
		ClickHouse:     clickhouse.DefaultConfig(),
		Admin:          admin.Config{Addr: ":9104"},
		Log:            telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr: must not be empty")
	case c.RequestTimeout <= 0:
		return fmt.Errorf("request_timeout: %s must be positive", c.RequestTimeout)
	case c.RequestTimeout > maxRequestTimeout:
		return fmt.Errorf("request_timeout: %s is longer than the maximum %s", c.RequestTimeout, maxRequestTimeout)
	}
	if err := api.ValidateSLOs("slos", c.SLOs); err != nil {
		return err
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Option changes how Listen serves.
type Option func(*options)

type options struct {
	requestTimeout time.Duration
	reg            prometheus.Registerer
	slos           []api.SLO
}

// RequestTimeout bounds each request's store calls (default
// api.DefaultRequestTimeout).
func RequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// SLOs are served at /api/v1/slos (validated as the slos key).
func SLOs(slos []api.SLO) Option { return func(o *options) { o.slos = slos } }

// Metrics registers the API's metrics (picket_query_…) on reg.
func Metrics(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// Server is the API's HTTP server: Run serves until the context is done and
// then drains within 10 seconds; Addr is the bound address.
type Server struct {
	*httpserver.Server
}

// Listen binds addr (":0" picks a port) for the API over st. A taken
// address is an error naming it.
func Listen(addr string, st *store.Store, log *slog.Logger, opts ...Option) (*Server, error) {
	o := options{requestTimeout: api.DefaultRequestTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := httpserver.DefaultConfig()
	// A request that reaches its store deadline still has time to say so.
	cfg.WriteTimeout = o.requestTimeout + 10*time.Second
	a := api.New(st, log, o.requestTimeout)
	if err := a.SetSLOs(o.slos); err != nil {
		return nil, err
	}
	if o.reg != nil {
		if err := a.Register(o.reg); err != nil {
			return nil, err
		}
	}
	srv, err := httpserver.Listen("query", addr, a.Handler(), log, cfg)
	if err != nil {
		return nil, err
	}
	return &Server{srv}, nil
}
