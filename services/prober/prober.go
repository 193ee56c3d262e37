// Package prober runs checks on their schedules and emits one CheckResult per
// run to the results topic. It never stores anything and never decides about
// alerts: it measures and reports.
package prober

import (
	"context"
	"errors"
	"fmt"
	"github.com/picket-dev/picket/platform/admin"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/probe"
	"github.com/picket-dev/picket/services/prober/schedule"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config is the prober's configuration.
type Config struct {
	Kafka kafka.Config `koanf:"kafka"`
	// Location labels every result this prober emits.
	Location string `koanf:"location"`
	// ChecksFile is the YAML file of checks to run.
	ChecksFile string `koanf:"checks_file"`
	// ReloadInterval is how often the checks file is looked at for changes.
	ReloadInterval time.Duration `koanf:"reload_interval"`
	// FlushTimeout bounds how long shutdown waits for Kafka to take the
	// results still buffered.
	FlushTimeout time.Duration       `koanf:"flush_timeout"`
	Admin        admin.Config        `koanf:"admin"`
	Log          telemetry.LogConfig `koanf:"log"`
}

// DefaultConfig is the prober's default configuration.
func DefaultConfig() Config {
	return Config{
		Kafka:          kafka.DefaultConfig(),
		Location:       "local",
		ChecksFile:     "checks.yaml",
		FlushTimeout:   10 * time.Second,
		ReloadInterval: 5 * time.Second,
		Admin:          admin.Config{Addr: ":9101"},
		Log:            telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(c.Location) == "":
		return errors.New("location: must not be empty")
	case c.ChecksFile == "":
		return errors.New("checks_file: must not be empty")
	case c.FlushTimeout <= 0:
		return fmt.Errorf("flush_timeout: %s must be positive", c.FlushTimeout)
	case c.ReloadInterval <= 0:
		return fmt.Errorf("reload_interval: %s must be positive", c.ReloadInterval)
	}
	return c.Log.Validate()
}

// Prober runs checks and produces their results.
type Prober struct {
	cfg     Config
	log     *slog.Logger
	checks  []check.Check
	client  *kgo.Client
	metrics *metrics
	clock   schedule.Clock
	// fromFile is set when checks come from cfg.ChecksFile, which is then
	// reloaded on SIGHUP and when it changes.
	fromFile bool
	// watching is closed once SIGHUP is being listened for.
	watching chan struct{}

	mu      sync.Mutex
	runners map[string]*runner
	// onRun, when set (benchmarks), sees every run's tick and start lag.
	onRun func(id string, tick time.Time, lag time.Duration)
}

type metrics struct {
	duration     *prometheus.HistogramVec
	runs         *prometheus.CounterVec
	lag          prometheus.Histogram
	produceError prometheus.Counter
	produced     prometheus.Counter
	reloads      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_probe_duration_seconds",
			Help:    "Total duration of check runs.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"check", "location", "result"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_prober_runs_total",
			Help: "Check runs by check and failure reason (none on success).",
		}, []string{"check", "reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "picket_prober_schedule_lag_seconds",
			Help:    "Delay between a run's scheduled tick and its actual start.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		produceError: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_prober_produce_errors_total",
			Help: "Results Kafka did not accept.",
		}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_prober_results_produced_total",
			Help: "Results Kafka acknowledged.",
		}),
	}
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "picket_prober_reloads_total",
		Help: "Reloads of the checks file, by result (success, error).",
	}, []string{"result"})
	reg.MustRegister(m.duration, m.runs, m.lag, m.produceError, m.produced, m.reloads)
	return m
}

// New loads the checks file and connects the producer.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Prober, error) {
	checks, err := check.Load(cfg.ChecksFile)
	if err != nil {
		return nil, err
	}
	p, err := NewWithChecks(cfg, checks, log, reg)
	if err != nil {
		return nil, err
	}
	p.fromFile = true
	return p, nil
}

// NewWithChecks runs the given (validated) checks instead of cfg.ChecksFile's.
func NewWithChecks(cfg Config, checks []check.Check, log *slog.Logger, reg prometheus.Registerer) (*Prober, error) {
	opts := append(cfg.Kafka.ClientOptions(log),
		kgo.DefaultProduceTopic(cfg.Kafka.ResultsTopic),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Prober{
		cfg: cfg, log: log, checks: checks, client: cl, metrics: newMetrics(reg), clock: schedule.RealClock{},
		runners: map[string]*runner{}, watching: make(chan struct{}),
	}, nil
}

// Ready reports whether Kafka answers.
func (p *Prober) Ready(ctx context.Context) error { return p.client.Ping(ctx) }

// Run probes until ctx is done, then finishes the runs in progress and flushes
// their results to Kafka.
func (p *Prober) Run(ctx context.Context) error {
	defer p.client.Close()
	if err := retry.Do(ctx, retry.Default, p.log, "create topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, p.client, p.cfg.Kafka)
	}); err != nil {
		return err
	}
	p.log.Info("prober started", "location", p.cfg.Location, "checks", len(p.checks))
	p.apply(ctx, p.checks)
	if p.fromFile {
		p.watch(ctx)
	} else {
		<-ctx.Done()
	}
	p.stopAll()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.FlushTimeout)
	defer cancel()
	if err := p.client.Flush(fctx); err != nil {
		return fmt.Errorf("flush results on shutdown: %w", err)
	}
	p.log.Info("prober stopped")
	return nil
}

// watch reloads the checks file on SIGHUP and when its size or modification
// time changes, until ctx is done.
func (p *Prober) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	close(p.watching)
	last, _ := statFile(p.cfg.ChecksFile)
	tick := time.NewTicker(p.cfg.ReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			last, _ = statFile(p.cfg.ChecksFile)
			p.reload(ctx, "SIGHUP")
		case <-tick.C:
			st, err := statFile(p.cfg.ChecksFile)
			if err != nil || st == last {
				continue
			}
			last = st
			p.reload(ctx, "file changed")
		}
	}
}

// Result builds the event for one run.
func Result(c check.Check, location string, tick time.Time, r probe.Result, attempts int) *eventsv1.CheckResult {
	ev := &eventsv1.CheckResult{
		ResultId:        events.ResultID(c.ID, location, tick),
		CheckId:         c.ID,
		CheckName:       c.Name,
		CheckType:       c.Type(),
		Location:        location,
		ScheduledAt:     timestamppb.New(tick),
		StartedAt:       timestamppb.New(r.Start),
		Duration:        durationpb.New(r.Duration),
		TimeToFirstByte: durationpb.New(r.TTFB),
		HttpStatus:      uint32(r.HTTPStatus),
		Success:         r.Success,
		FailureClass:    r.Class,
		FailureMessage:  r.Message,
		Interval:        durationpb.New(c.Interval),
		Attempts:        uint32(attempts),
		Phases: &eventsv1.Phases{
			Dns:              durationpb.New(r.Phases.DNS),
			Connect:          durationpb.New(r.Phases.Connect),
			TlsHandshake:     durationpb.New(r.Phases.TLS),
			ServerProcessing: durationpb.New(r.Phases.Processing),
			Transfer:         durationpb.New(r.Phases.Transfer),
		},
	}
	for _, a := range r.Assertions {
		ev.Assertions = append(ev.Assertions, &eventsv1.AssertionOutcome{Assertion: a.Assertion, Passed: a.Passed, Message: a.Message})
	}
	if r.Cert != nil {
		ev.Certificate = &eventsv1.Certificate{
			NotAfter: timestamppb.New(r.Cert.NotAfter), Subject: r.Cert.Subject, Issuer: r.Cert.Issuer, Verified: r.Cert.Verified,
		}
	}
	return ev
}

func (p *Prober) emit(c check.Check, tick time.Time, r probe.Result, attempts int) {
	outcome, reason := "success", "none"
	if !r.Success {
		outcome, reason = "failure", failureReason(r.Class)
	}
	p.metrics.duration.WithLabelValues(c.ID, p.cfg.Location, outcome).Observe(r.Duration.Seconds())
	p.metrics.runs.WithLabelValues(c.ID, reason).Inc()

	ev := Result(c, p.cfg.Location, tick, r, attempts)
	value, err := proto.Marshal(ev)
	if err != nil { // cannot happen for a well-formed message; never drop silently
		p.log.Error("encode result", "check", c.ID, "err", err)
		p.metrics.produceError.Inc()
		return
	}
	rec := &kgo.Record{Key: []byte(c.ID), Value: value, Headers: kafka.Headers(events.CheckResultV1), Timestamp: tick}
	p.client.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			p.metrics.produceError.Inc()
			p.log.Error("result not produced", "check", c.ID, "tick", tick, "err", err)
			return
		}
		p.metrics.produced.Inc()
	})
}

func failureReason(c eventsv1.FailureClass) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "FAILURE_CLASS_"))
}
