// Package query serves Picket's read API and dashboard over HTTP. It never
// writes to the store.
package query

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
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
	RequestTimeout time.Duration       `koanf:"request_timeout"`
	ClickHouse     clickhouse.Config   `koanf:"clickhouse"`
	Admin          admin.Config        `koanf:"admin"`
	Log            telemetry.LogConfig `koanf:"log"`

	// StatusPages are the public status pages, by slug: each is served at
	// /status/{slug} (HTML) and /api/v1/status/{slug} (JSON), showing its
	// checks (by id, then those carrying all its labels) with their state
	// and 90 days of daily uptime.
	StatusPages map[string]api.StatusPage `koanf:"status_pages"`
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
	if err := ValidateStatusPages(c.StatusPages); err != nil {
		return err
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// slugSyntax is what a status page's slug may be: one URL path segment that
// needs no escaping.
var slugSyntax = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateStatusPages names the offending key under status_pages (slugs in
// order, so the first problem is always the same one).
func ValidateStatusPages(pages map[string]api.StatusPage) error {
	for _, slug := range slices.Sorted(maps.Keys(pages)) {
		p, key := pages[slug], "status_pages."+slug
		if !slugSyntax.MatchString(slug) {
			return fmt.Errorf("status_pages: slug %q: want lower-case letters, digits, - and _ (at most 63), starting with a letter or digit", slug)
		}
		if len(p.Checks) == 0 && len(p.Labels) == 0 {
			return fmt.Errorf("%s: give checks (ids) or labels (key: value) to choose the checks it shows", key)
		}
		for i, id := range p.Checks {
			if id == "" {
				return fmt.Errorf("%s.checks[%d]: must not be empty", key, i)
			}
			if slices.Contains(p.Checks[:i], id) {
				return fmt.Errorf("%s.checks[%d]: %q is listed twice", key, i, id)
			}
		}
		for k := range p.Labels {
			if k == "" {
				return fmt.Errorf("%s.labels: a label name must not be empty", key)
			}
		}
	}
	return nil
}

// Option changes how Listen serves.
type Option func(*options)

type options struct {
	requestTimeout time.Duration
	reg            prometheus.Registerer
	statusPages    map[string]api.StatusPage
}

// RequestTimeout bounds each request's store calls (default
// api.DefaultRequestTimeout).
func RequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// StatusPages serves the status pages, by slug (see Config.StatusPages);
// validate them first (ValidateStatusPages).
func StatusPages(pages map[string]api.StatusPage) Option {
	return func(o *options) { o.statusPages = pages }
}

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
	a.SetStatusPages(o.statusPages)
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
