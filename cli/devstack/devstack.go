// Package devstack runs the whole pipeline in one process: franz-go's kfake
// as the Kafka broker, libchdb as ClickHouse, the four services, and the demo
// target and webhook receiver. It is what `picket dev` and the embedded
// end-to-end tests run; production runs each service on its own.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"

	"github.com/picket-dev/picket/cli/demo"
	"github.com/picket-dev/picket/cli/devstack/datadir"
	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/aggregator"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/notifier/deliver"
	"github.com/picket-dev/picket/services/notifier/deliverylog"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query"
	"github.com/picket-dev/picket/services/query/api"
)

// Config is `picket dev`'s configuration.
type Config struct {
	// DataDir holds Kafka's log and ClickHouse's tables across restarts.
	DataDir   string `koanf:"data_dir"`
	KafkaAddr string `koanf:"kafka_addr"`
	QueryAddr string `koanf:"query_addr"`
	AdminAddr string `koanf:"admin_addr"`
	Database  string `koanf:"database"`
	Location  string `koanf:"location"`
	// ChecksFile, when set, replaces the demo check; it is reloaded when it
	// changes (after it has stayed the same for prober.reload_interval).
	ChecksFile string                   `koanf:"checks_file"`
	Prober     ProberConfig             `koanf:"prober"`
	Demo       DemoConfig               `koanf:"demo"`
	Alerting   alert.Config             `koanf:"alerting"`
	Webhooks   []notifier.WebhookConfig `koanf:"webhooks"`
	// Query guards the dashboard and API as the query service's own keys do.
	Query QueryConfig `koanf:"query"`
	Log   LogConfig   `koanf:"log"`
}

// QueryConfig is the query service's access control in picket dev: the
// same keys as the service's auth, cors and rate_limit (see its README).
type QueryConfig struct {
	// Auth is the optional bearer-token authentication: off without tokens.
	Auth api.AuthConfig `koanf:"auth"`
	// CORS lets other origins' pages read the API: off without origins.
	CORS api.CORSConfig `koanf:"cors"`
	// RateLimit is the per-client rate limit: off at 0 requests per second.
	RateLimit api.RateLimitConfig `koanf:"rate_limit"`
	// SLOs are served by the query API at /api/v1/slos, as the query
	// service's slos.
	SLOs []api.SLO `koanf:"slos"`
	// StatusPages are the query service's public status pages, by slug
	// (see its status_pages). With none and the demo on, the demo check
	// gets one: /status/demo.
	StatusPages map[string]api.StatusPage `koanf:"status_pages"`
}

// Access is the sections as the API takes them.
func (q QueryConfig) Access() api.AccessConfig {
	return api.AccessConfig{Auth: q.Auth, CORS: q.CORS, RateLimit: q.RateLimit}
}

// ProberConfig configures dev's probers.
type ProberConfig struct {
	// ReloadInterval is how often checks_file is looked at for changes.
	ReloadInterval time.Duration `koanf:"reload_interval"`
	// Definitions also runs the checks published with `picket apply` to the
	// definitions topic (kafka.checks_topic) for this location, as a
	// location's fleet of probers does in production.
	Definitions bool `koanf:"definitions"`
}

// DemoConfig places the demo target and webhook receiver and shapes the
// target's behaviour.
type DemoConfig struct {
	Enabled      bool          `koanf:"enabled"`
	TargetAddr   string        `koanf:"target_addr"`
	ReceiverAddr string        `koanf:"receiver_addr"`
	Interval     time.Duration `koanf:"interval"`
	// SuccessRate is the fraction of requests the target answers 200
	// outside its outages.
	SuccessRate float64 `koanf:"success_rate"`
	// FirstOutage is how long after the start the target's first outage
	// begins; each lasts Outage (0: none) and they recur every OutageEvery.
	FirstOutage time.Duration `koanf:"first_outage"`
	Outage      time.Duration `koanf:"outage"`
	OutageEvery time.Duration `koanf:"outage_every"`
}

// Shape is the demo target's behaviour.
func (d DemoConfig) Shape() demo.Shape {
	return demo.Shape{SuccessRate: d.SuccessRate, FirstOutage: d.FirstOutage, Outage: d.Outage, OutageEvery: d.OutageEvery}
}

// DefaultConfig is what `picket dev` runs with no configuration.
func DefaultConfig() Config {
	shape := demo.DefaultShape()
	access := api.DefaultAccess()
	return Config{
		DataDir:   "data",
		KafkaAddr: "127.0.0.1:9092",
		QueryAddr: "127.0.0.1:8080",
		AdminAddr: "127.0.0.1:9100",
		Database:  "picket",
		Location:  "local",
		Prober:    ProberConfig{ReloadInterval: time.Second, Definitions: true},
		Demo: DemoConfig{
			Enabled: true, TargetAddr: "127.0.0.1:8081", ReceiverAddr: "127.0.0.1:8082", Interval: 5 * time.Second,
			SuccessRate: shape.SuccessRate, FirstOutage: shape.FirstOutage, Outage: shape.Outage, OutageEvery: shape.OutageEvery,
		},
		Alerting: alert.DefaultConfig(),
		Query:    QueryConfig{Auth: access.Auth, CORS: access.CORS, RateLimit: access.RateLimit},
		Log:      DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	for _, a := range []struct{ key, addr string }{{"kafka_addr", c.KafkaAddr}, {"query_addr", c.QueryAddr}, {"admin_addr", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s: %q: %v", a.key, a.addr, err)
		}
	}
	if err := store.ValidDatabase(c.Database); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if c.Prober.ReloadInterval <= 0 {
		return fmt.Errorf("prober.reload_interval: %s must be positive", c.Prober.ReloadInterval)
	}
	if c.Demo.Enabled {
		if c.Demo.Interval < 10*time.Millisecond {
			return fmt.Errorf("demo.interval: %s is below the minimum of 10ms", c.Demo.Interval)
		}
		if err := c.Demo.Shape().Validate("demo"); err != nil {
			return err
		}
	}
	if !c.Demo.Enabled && c.ChecksFile == "" && !c.Prober.Definitions {
		return errors.New("checks_file: required when demo.enabled and prober.definitions are false")
	}
	if err := api.ValidateSLOs("query.slos", c.Query.SLOs); err != nil {
		return err
	}
	if err := c.Alerting.Validate(); err != nil {
		return err
	}
	if err := c.Query.Access().Validate("query."); err != nil {
		return err
	}
	if err := query.ValidateStatusPages("query.status_pages", c.Query.StatusPages); err != nil {
		return err
	}
	// The notifier's own validation covers the webhooks.
	nc := notifier.DefaultConfig()
	nc.Webhooks = c.Webhooks
	if err := nc.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Options are what a program (rather than a user) adds to Config.
type Options struct {
	// Checks, when set, are run instead of the demo check or ChecksFile.
	Checks []check.Check
	// Backend, when set, is used instead of opening DataDir/clickhouse
	// (libchdb allows one data directory per process; tests share one).
	Backend store.Backend
	// KafkaBrokers, when set, is an existing Kafka cluster to use instead of
	// starting kfake (the testcontainers suites pass a real broker).
	KafkaBrokers []string
	Log          *slog.Logger
	// Registry collects every service's metrics; nil makes a new one.
	Registry *prometheus.Registry
}

// Stack is a running pipeline.
type Stack struct {
	// Addresses of what runs, for printing and for tests; TargetURL and
	// ReceiverURL are empty when the demo is off.
	KafkaAddr, QueryURL, AdminURL, TargetURL, ReceiverURL string
	// OpsURL serves replay, backtest and migrate to the picket CLI (package
	// ops); the data directory's picket-dev.json names it and its token.
	OpsURL string
	// Receiver is the demo webhook receiver, nil when the demo is off.
	Receiver *demo.Receiver
	// ChecksFile is the checks file the prober follows ("" when none).
	ChecksFile string
	// Definitions is the topic whose checks are run too ("" when not).
	Definitions string
	// StatusPages are the slugs of the status pages served, sorted.
	StatusPages []string

	log    *slog.Logger
	store  *store.Store
	cancel context.CancelFunc
	g      *errgroup.Group
	// undo are the cleanups of what is not owned by a goroutine of g, in
	// the order the parts were built; Close runs them in reverse.
	undo       []func() error
	stopProber context.CancelFunc
	probers    sync.WaitGroup
	proberMu   sync.Mutex
	proberErr  error
	closeOnce  sync.Once
	closeErr   error
}

// Start brings the stack up and returns once every part is listening. On
// failure it returns the cause, saying what to change, with everything it had
// started stopped and released (ports, files, Kafka clients, the spool).
func Start(ctx context.Context, cfg Config, opts Options) (_ *Stack, err error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reg := opts.Registry
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	// s is never nil below, so the deferred Close always has a stack: each
	// part is registered (in undo, or as a goroutine of g) as it is built.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(runCtx)
	s := &Stack{log: log, cancel: cancel, g: g}
	defer func() {
		if err != nil {
			if cerr := s.Close(); cerr != nil {
				log.Debug("stopping what had started", "err", cerr)
			}
		}
	}()

	// What is cheap to check comes first: a typo in the checks file is
	// reported before Kafka and ClickHouse are started.
	checks := opts.Checks
	if checks == nil && cfg.ChecksFile != "" {
		if _, err := check.Load(cfg.ChecksFile); err != nil {
			return nil, fmt.Errorf("checks_file: %w", err)
		}
		s.ChecksFile = cfg.ChecksFile
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	unlock, err := datadir.Lock(cfg.DataDir, "picket dev")
	if err != nil {
		return nil, err
	}
	s.undo = append(s.undo, unlock)

	brokers := opts.KafkaBrokers
	if len(brokers) == 0 {
		// Kafka: kfake, persisted under the data directory.
		kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(filepath.Join(cfg.DataDir, "kafka"))}
		if _, port, _ := net.SplitHostPort(cfg.KafkaAddr); port != "0" {
			p, err := strconv.Atoi(port)
			if err != nil {
				return nil, fmt.Errorf("kafka_addr %q: %w", cfg.KafkaAddr, err)
			}
			kopts = append(kopts, kfake.Ports(p))
		}
		cluster, err := kfake.NewCluster(kopts...)
		if err != nil {
			return nil, listenError("kafka_addr", cfg.KafkaAddr, fmt.Errorf("start kafka (kfake): %w", err))
		}
		s.undo = append(s.undo, func() error { cluster.Close(); return nil })
		brokers = cluster.ListenAddrs()
	}
	s.KafkaAddr = brokers[0]

	// ClickHouse: libchdb in process.
	backend := opts.Backend
	if backend == nil {
		b, err := embedded.Open(filepath.Join(cfg.DataDir, "clickhouse"), 4)
		if err != nil {
			return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
		}
		s.undo = append(s.undo, b.Close)
		backend = b
	}
	st, err := store.New(backend, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	s.store = st

	// The servers: each runs in g from the moment it listens, so a later
	// failure's cancel shuts it down and frees its port.
	pages := cfg.Query.StatusPages
	if len(pages) == 0 && cfg.Demo.Enabled && checks == nil && cfg.ChecksFile == "" {
		pages = map[string]api.StatusPage{"demo": {Title: "Demo status", Checks: []string{DemoCheckID}}}
	}
	s.StatusPages = slices.Sorted(maps.Keys(pages))
	defs := &definitions{}
	q, err := query.Listen(cfg.QueryAddr, st, log.With("service", "query"), query.Access(cfg.Query.Access(), "query."),
		query.Metrics(reg), query.WithDefinitions(defs), query.SLOs(cfg.Query.SLOs), query.StatusPages(pages))
	if err != nil {
		if errors.Is(err, api.ErrAccess) {
			return nil, err
		}
		return nil, listenError("query_addr", cfg.QueryAddr, err)
	}
	s.run(gctx, q.Run)
	s.QueryURL = "http://" + q.Addr()
	adm, err := admin.New(cfg.AdminAddr, reg, log.With("component", "admin"))
	if err != nil {
		return nil, listenError("admin_addr", cfg.AdminAddr, err)
	}
	s.run(gctx, adm.Run)
	s.AdminURL = "http://" + adm.Addr()

	serve := func(key, addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", listenError(key, addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			go func() {
				<-gctx.Done()
				sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
				defer c()
				srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		return "http://" + ln.Addr().String(), nil
	}
	webhooks := append([]notifier.WebhookConfig(nil), cfg.Webhooks...)
	if cfg.Demo.Enabled {
		if s.TargetURL, err = serve("demo.target_addr", cfg.Demo.TargetAddr,
			demo.NewTarget(log.With("component", "demo-target"), cfg.Demo.Shape())); err != nil {
			return nil, err
		}
		s.Receiver = demo.NewReceiver(log.With("component", "demo-webhook"))
		if s.ReceiverURL, err = serve("demo.receiver_addr", cfg.Demo.ReceiverAddr, s.Receiver); err != nil {
			return nil, err
		}
		webhooks = append(webhooks, notifier.WebhookConfig{Name: "demo", URL: s.ReceiverURL + "/hook", Timeout: 5 * time.Second})
		if checks == nil && cfg.ChecksFile == "" {
			checks = []check.Check{DemoCheck(s.TargetURL, cfg.Demo.Interval)}
		}
	}

	kc := kafka.DefaultConfig()
	kc.Brokers = brokers
	kc.Partitions = 3

	// The query API shows the checks' targets and definitions: the stack's
	// own, then those published to its checks topic.
	published := query.NewCheckDefinitions(kc, log.With("service", "query"))
	s.run(gctx, func(ctx context.Context) error { published.Run(ctx); return nil })
	switch {
	case checks != nil:
		defs.set(definitionMap(checks), published)
	case s.ChecksFile != "":
		defs.set(&fileDefinitions{path: s.ChecksFile}, published)
	default:
		defs.set(published)
	}

	// The consumers: each constructor makes a Kafka client that its Run
	// closes, so Run is started at once.
	ac := aggregator.DefaultConfig()
	ac.Kafka, ac.Alerting = kc, cfg.Alerting
	a, err := aggregator.New(ac, st, log.With("service", "aggregator"), reg)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	s.run(gctx, a.Run)
	adm.AddCheck("aggregator", a.Ready)
	nc := notifier.DefaultConfig()
	nc.Kafka, nc.Webhooks = kc, webhooks
	// The dev stack's receivers (the demo receiver, a tester's local one)
	// listen on loopback, which the notifier refuses by default.
	nc.Safety.Allow = append(nc.Safety.Allow, "127.0.0.0/8", "::1")
	sinks, err := notifier.Sinks(nc, deliver.Options{})
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	// Every delivery attempt goes to the notification_deliveries table of
	// the embedded ClickHouse, as a production notifier's with
	// delivery.log_to_clickhouse.
	dlog := deliverylog.New(st, log.With("service", "notifier", "component", "delivery-log"), reg, 10000, 1000, time.Second)
	n, err := notifier.NewWithSinks(nc, sinks, log.With("service", "notifier"), reg, notifier.Options{DeliveryLog: dlog})
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	s.run(gctx, dlog.Run)
	s.run(gctx, n.Run)
	for name, c := range n.Checks() { // one line per destination: a stalled one is named
		adm.AddCheck("notifier "+name, c)
	}

	if err := s.serveOps(gctx, cfg, st, kc, nc); err != nil {
		return nil, err
	}

	// The probers come last: nothing can fail after them (a prober's spool
	// and client are released only by its Run).
	proberCtx, stopProber := context.WithCancel(gctx)
	s.stopProber = stopProber
	pc := prober.DefaultConfig()
	pc.Kafka, pc.Location = kc, cfg.Location
	pc.ReloadInterval = cfg.Prober.ReloadInterval
	pc.Outbox.Dir = filepath.Join(cfg.DataDir, "prober-spool")
	both := cfg.Prober.Definitions && (checks != nil || s.ChecksFile != "")
	proberReg := func(source string) prometheus.Registerer {
		if !both {
			return reg
		}
		// Two probers in one registry: their metrics are told apart by source.
		return prometheus.WrapRegistererWith(prometheus.Labels{"source": source}, reg)
	}
	var p *prober.Prober
	switch {
	case checks != nil:
		p, err = prober.NewWithChecks(pc, checks, log.With("service", "prober"), proberReg("file"))
	case s.ChecksFile != "":
		pc.Source, pc.ChecksFile = "file", s.ChecksFile
		p, err = prober.New(pc, log.With("service", "prober"), proberReg("file"))
	}
	if err != nil {
		return nil, fmt.Errorf("prober: %w", err)
	}
	if p != nil {
		s.runProber(proberCtx, p)
		adm.AddCheck("prober", p.Ready)
	}
	if cfg.Prober.Definitions {
		dc := pc
		dc.Source, dc.ChecksFile = "kafka", ""
		dc.Outbox.Dir = filepath.Join(cfg.DataDir, "prober-spool-definitions")
		d, err := prober.New(dc, log.With("service", "prober", "source", "definitions"), proberReg("definitions"))
		if err != nil {
			return nil, fmt.Errorf("prober (definitions): %w", err)
		}
		s.runProber(proberCtx, d)
		adm.AddCheck("prober-definitions", d.Ready)
		s.Definitions = kc.ChecksTopic
	}
	return s, nil
}

// runProber runs p in g; StopProber waits for every prober run so.
func (s *Stack) runProber(ctx context.Context, p *prober.Prober) {
	s.probers.Add(1)
	s.run(ctx, func(ctx context.Context) error {
		defer s.probers.Done()
		err := p.Run(ctx)
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // stopped while it was starting
		}
		s.proberMu.Lock()
		s.proberErr = errors.Join(s.proberErr, err)
		s.proberMu.Unlock()
		return err
	})
}

// run runs part in g. A part that was still starting when the stack was
// stopped returns the cancellation: that is not a failure of the stack.
func (s *Stack) run(ctx context.Context, part func(context.Context) error) {
	s.g.Go(func() error {
		err := part(ctx)
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
}

// listenError says, for an address already in use, what is probably holding
// it and which key to change.
func listenError(key, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		return fmt.Errorf("%s %s is in use — is another `picket dev` running? change %s (%w)", key, addr, key, err)
	}
	return fmt.Errorf("%s %s: %w", key, addr, err)
}

// DemoCheckID is the demo check's id.
const DemoCheckID = "reservations"

// DemoCheck is the check `picket dev` runs against the demo target.
func DemoCheck(targetURL string, interval time.Duration) check.Check {
	return check.Check{
		ID: DemoCheckID, Name: "Reservations API", Interval: interval, Timeout: min(interval*4/5, 10*time.Second),
		HTTP: &check.HTTP{
			Method: "POST", URL: targetURL + "/reservations",
			Headers:        map[string]string{"Content-Type": "application/json"},
			Body:           `{"guest":"synthetic-monitor","nights":1}`,
			ExpectedStatus: []int{200},
		},
	}
}

// StopProber stops scheduling checks, waits for the runs in progress and
// flushes their results to Kafka. The rest of the stack keeps running.
func (s *Stack) StopProber() error {
	if s.stopProber == nil {
		return nil
	}
	s.stopProber()
	s.probers.Wait()
	s.proberMu.Lock()
	defer s.proberMu.Unlock()
	return s.proberErr
}

// Wait blocks until a part of the stack fails or the stack is closed.
func (s *Stack) Wait() error { return s.g.Wait() }

// Close stops everything: the probers first (their results are flushed), then
// the consumers and servers, then Kafka and ClickHouse, then the data
// directory's lock. It is safe on a stack Start gave up on halfway.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		errs := []error{s.StopProber()}
		s.cancel()
		errs = append(errs, s.g.Wait())
		for i := len(s.undo) - 1; i >= 0; i-- {
			errs = append(errs, s.undo[i]())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Banner is what `picket dev` prints once the stack runs: the URLs to open,
// naming only what runs (the demo's when the demo is on).
func Banner(cfg Config, s *Stack) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Picket is running (data in %s). Open:\n", cfg.DataDir)
	row := func(what, url string) { fmt.Fprintf(&b, "  %-17s %s\n", what, url) }
	row("dashboard", s.QueryURL+"/")
	if s.TargetURL != "" {
		row("stats API", s.QueryURL+"/api/v1/checks/reservations/stats?window=10m")
	} else {
		row("stats API", s.QueryURL+"/api/v1/checks/<check id>/stats?window=10m")
	}
	row("alert history", s.QueryURL+"/api/v1/alerts")
	for _, slug := range s.StatusPages {
		row("status page", s.QueryURL+"/status/"+slug)
	}
	if len(cfg.Query.Auth.Tokens) > 0 || cfg.Query.Auth.TokensFile != "" {
		fmt.Fprintf(&b, "The API needs a bearer token (query.auth); the picket CLI sends $PICKET_TOKEN or --token.\n")
	}
	row("metrics", s.AdminURL+"/metrics")
	if s.TargetURL != "" {
		row("demo target", s.TargetURL+"/reservations")
		row("webhooks received", s.ReceiverURL+"/")
	}
	if s.ChecksFile != "" {
		fmt.Fprintf(&b, "Checks come from %s (reloaded when it changes).\n", s.ChecksFile)
	}
	if s.Definitions != "" {
		fmt.Fprintf(&b, "Checks published with `picket apply -f checks.yaml --set kafka.brokers=%s` run too (topic %s).\n", s.KafkaAddr, s.Definitions)
	}
	if s.OpsURL != "" {
		fmt.Fprintf(&b, "`picket replay --from 1h`, `picket backtest` and `picket migrate` run against this stack (found from %s).\n", cfg.DataDir)
	}
	fmt.Fprintf(&b, "Kafka (kfake) listens on %s. Stop with Ctrl-C.\n", s.KafkaAddr)
	return b.String()
}
