// Package query serves Picket's read API and dashboard over HTTP. It never
// writes to the store.
package query

import (
	"context"
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
	"github.com/picket-dev/picket/platform/kafka"
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
	// Auth is the optional bearer-token authentication: off without tokens.
	Auth api.AuthConfig `koanf:"auth"`
	// CORS lets other origins' pages read the API: off without origins.
	CORS api.CORSConfig `koanf:"cors"`
	// RateLimit is the per-client rate limit: off at 0 requests per second.
	RateLimit api.RateLimitConfig `koanf:"rate_limit"`
	// SLOs are the service level objectives served at /api/v1/slos, each
	// over the checks it names or selects by label.
	SLOs       []api.SLO         `koanf:"slos"`
	ClickHouse clickhouse.Config `koanf:"clickhouse"`
	// Kafka is where the check definitions are read (kafka.checks_topic,
	// written by picket apply): the check list shows each check's target,
	// the check endpoint its definition. Kafka away, they are left out and
	// read again every 10 s.
	Kafka kafka.Config        `koanf:"kafka"`
	Admin admin.Config        `koanf:"admin"`
	Log   telemetry.LogConfig `koanf:"log"`
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
	access := api.DefaultAccess()
	return Config{
		Addr:           ":8080",
		RequestTimeout: api.DefaultRequestTimeout,
		Auth:           access.Auth,
		CORS:           access.CORS,
		RateLimit:      access.RateLimit,
		ClickHouse:     clickhouse.DefaultConfig(),
		Kafka:          kafka.DefaultConfig(),
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
	if err := c.Access().Validate(""); err != nil {
		return err
	}
	if err := ValidateStatusPages("status_pages", c.StatusPages); err != nil {
		return err
	}
	if err := api.ValidateSLOs("slos", c.SLOs); err != nil {
		return err
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Access is the configuration's auth, cors and rate_limit sections.
func (c Config) Access() api.AccessConfig {
	return api.AccessConfig{Auth: c.Auth, CORS: c.CORS, RateLimit: c.RateLimit}
}

// slugSyntax is what a status page's slug may be: one URL path segment that
// needs no escaping.
var slugSyntax = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateStatusPages names the offending key under prefix (status_pages;
// query.status_pages in picket dev), slugs in order, so the first problem
// is always the same one.
func ValidateStatusPages(prefix string, pages map[string]api.StatusPage) error {
	for _, slug := range slices.Sorted(maps.Keys(pages)) {
		p, key := pages[slug], prefix+"."+slug
		if !slugSyntax.MatchString(slug) {
			return fmt.Errorf("%s: slug %q: want lower-case letters, digits, - and _ (at most 63), starting with a letter or digit", prefix, slug)
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
	defs           api.Definitions
	access         api.AccessConfig
	accessPrefix   string
	slos           []api.SLO
	statusPages    map[string]api.StatusPage
}

// RequestTimeout bounds each request's store calls (default
// api.DefaultRequestTimeout).
func RequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// WithDefinitions shows the checks' targets and definitions from d
// (CheckDefinitions, or a dev stack's own checks).
func WithDefinitions(d api.Definitions) Option { return func(o *options) { o.defs = d } }

// Access guards the API with cfg (tokens, CORS, rate limit; default
// api.DefaultAccess(), open); errors name its keys under prefix ("" for the
// query service, "query." in picket dev).
func Access(cfg api.AccessConfig, prefix string) Option {
	return func(o *options) { o.access, o.accessPrefix = cfg, prefix }
}

// SLOs are served at /api/v1/slos (validated as the slos key).
func SLOs(slos []api.SLO) Option { return func(o *options) { o.slos = slos } }

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
	o := options{requestTimeout: api.DefaultRequestTimeout, access: api.DefaultAccess()}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := httpserver.DefaultConfig()
	// A request that reaches its store deadline still has time to say so.
	cfg.WriteTimeout = o.requestTimeout + 10*time.Second
	a := api.New(st, log, o.requestTimeout)
	if o.defs != nil {
		a.SetDefinitions(o.defs)
	}
	if err := a.SetSLOs(o.slos); err != nil {
		return nil, err
	}
	guard, err := api.NewGuard(o.access, o.accessPrefix, log, nil)
	if err != nil {
		return nil, err
	}
	a.SetStatusPages(o.statusPages)
	if o.reg != nil {
		if err := a.Register(o.reg); err != nil {
			return nil, err
		}
		if err := guard.Register(o.reg); err != nil {
			return nil, err
		}
	}
	srv, err := httpserver.Listen("query", addr, guard.Wrap(a.Handler()), log, cfg)
	if err != nil {
		return nil, err
	}
	return &Server{srv}, nil
}

// definitionsRetry is how soon the check definitions are read again after
// a failed read.
const definitionsRetry = 10 * time.Second

// CheckDefinitions are the definitions on c's checks topic; Run reads them
// and follows the topic (a check applied shows its target within a fetch)
// until ctx ends.
type CheckDefinitions struct {
	*kafka.Compacted[api.Definition]
}

// NewCheckDefinitions reads the definitions of c.ChecksTopic.
func NewCheckDefinitions(c kafka.Config, log *slog.Logger) *CheckDefinitions {
	return &CheckDefinitions{
		Compacted: kafka.NewCompacted(c, c.ChecksTopic, log, definitionsRetry, func(_ string, v []byte) (api.Definition, error) {
			return api.ParseDefinition(v)
		}),
	}
}

// Definition implements api.Definitions.
func (d *CheckDefinitions) Definition(id string) (api.Definition, bool) { return d.Get(id) }

var _ api.DefinitionLister = (*CheckDefinitions)(nil)

// EachDefinition implements api.DefinitionLister.
func (d *CheckDefinitions) EachDefinition(f func(string, api.Definition)) { d.Each(f) }

// Run reads the definitions until ctx ends; while Kafka cannot be read the
// API answers without targets (logged, tried again every 10 s).
func (d *CheckDefinitions) Run(ctx context.Context) { d.Compacted.Run(ctx) }
