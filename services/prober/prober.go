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
	"github.com/picket-dev/picket/services/prober/assert"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/outbox"
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
	// Source of the checks: "file" (ChecksFile, reloaded on change) or
	// "kafka" (the definitions topic, shared by the location's fleet).
	Source string `koanf:"source"`
	// ChecksFile is the YAML file of checks to run.
	ChecksFile string `koanf:"checks_file"`
	// Fleet configures the kafka source.
	Fleet FleetConfig `koanf:"fleet"`
	// Outbox queues results between the probes and Kafka.
	Outbox OutboxConfig `koanf:"outbox"`
	// ReloadInterval is how often the checks file is looked at for changes.
	ReloadInterval time.Duration `koanf:"reload_interval"`
	// FlushTimeout bounds how long shutdown waits for Kafka to take the
	// results still buffered.
	FlushTimeout time.Duration       `koanf:"flush_timeout"`
	Admin        admin.Config        `koanf:"admin"`
	Log          telemetry.LogConfig `koanf:"log"`
}

// FleetConfig configures how a location's probers share its checks.
type FleetConfig struct {
	// GroupPrefix + "-" + location is the consumer group of the location.
	GroupPrefix string `koanf:"group_prefix"`
	// SessionTimeout is how soon a dead prober's checks move to the others.
	SessionTimeout time.Duration `koanf:"session_timeout"`
	// RebalanceTimeout bounds a rebalance, also one a prober dies during.
	RebalanceTimeout time.Duration `koanf:"rebalance_timeout"`
}

// OutboxConfig sizes the queue that keeps results while Kafka is unreachable.
type OutboxConfig struct {
	// Dir holds the spool files.
	Dir string `koanf:"dir"`
	// MemoryRecords are queued in memory before spilling to disk.
	MemoryRecords int `koanf:"memory_records"`
	// MaxSpoolBytes caps the spool; beyond it the oldest results are dropped (counted).
	MaxSpoolBytes int64 `koanf:"max_spool_bytes"`
	// SendTimeout bounds one produce of a batch before it is retried.
	SendTimeout time.Duration `koanf:"send_timeout"`
}

// DefaultConfig is the prober's default configuration.
func DefaultConfig() Config {
	return Config{
		Kafka:          kafka.DefaultConfig(),
		Location:       "local",
		Source:         "file",
		ChecksFile:     "checks.yaml",
		Fleet:          FleetConfig{GroupPrefix: "picket-prober", SessionTimeout: 10 * time.Second, RebalanceTimeout: 15 * time.Second},
		FlushTimeout:   10 * time.Second,
		ReloadInterval: 5 * time.Second,
		Outbox: OutboxConfig{
			Dir: "spool", MemoryRecords: 10000, MaxSpoolBytes: 256 << 20, SendTimeout: 10 * time.Second,
		},
		Admin: admin.Config{Addr: ":9101"},
		Log:   telemetry.DefaultLog(),
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
	case c.Source != "file" && c.Source != "kafka":
		return fmt.Errorf("source: %q is not file or kafka", c.Source)
	case c.Source == "file" && c.ChecksFile == "":
		return errors.New("checks_file: must not be empty")
	case c.Source == "kafka" && c.Fleet.GroupPrefix == "":
		return errors.New("fleet.group_prefix: must not be empty")
	case c.Source == "kafka" && c.Fleet.SessionTimeout < time.Second:
		return fmt.Errorf("fleet.session_timeout: %s is below 1s", c.Fleet.SessionTimeout)
	case c.Source == "kafka" && c.Fleet.RebalanceTimeout < time.Second:
		return fmt.Errorf("fleet.rebalance_timeout: %s is below 1s", c.Fleet.RebalanceTimeout)
	case c.FlushTimeout <= 0:
		return fmt.Errorf("flush_timeout: %s must be positive", c.FlushTimeout)
	case c.ReloadInterval <= 0:
		return fmt.Errorf("reload_interval: %s must be positive", c.ReloadInterval)
	case c.Outbox.Dir == "":
		return errors.New("outbox.dir: must not be empty")
	case c.Outbox.MemoryRecords < 1:
		return fmt.Errorf("outbox.memory_records: %d must be at least 1", c.Outbox.MemoryRecords)
	case c.Outbox.MaxSpoolBytes < spoolSegmentBytes:
		return fmt.Errorf("outbox.max_spool_bytes: %d must be at least %d", c.Outbox.MaxSpoolBytes, spoolSegmentBytes)
	case c.Outbox.SendTimeout <= 0:
		return fmt.Errorf("outbox.send_timeout: %s must be positive", c.Outbox.SendTimeout)
	}
	return c.Log.Validate()
}

// Prober runs checks and produces their results.
type Prober struct {
	cfg     Config
	log     *slog.Logger
	checks  []check.Check
	client  *kgo.Client
	outbox  *outbox.Outbox
	metrics *metrics
	sched   *schedule.Scheduler
	// fromFile is set when checks come from cfg.ChecksFile, which is then
	// reloaded on SIGHUP and when it changes.
	fromFile bool
	// fromFleet is set when checks come from the definitions topic.
	fromFleet bool
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
	dropped      prometheus.Counter
	phases       *prometheus.HistogramVec
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
			Help: "Produce attempts of a batch of results that Kafka did not accept (the batch is retried).",
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
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "picket_prober_results_dropped_total",
		Help: "Results lost because the spool reached its size limit or the disk failed.",
	})
	m.phases = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "picket_probe_phase_duration_seconds",
		Help:    "Duration of each phase of the runs that had it (dns, connect, tls, processing, transfer).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"location", "phase"})
	reg.MustRegister(m.duration, m.runs, m.lag, m.produceError, m.produced, m.reloads, m.dropped, m.phases)
	return m
}

// New loads the checks file (or, with the kafka source, prepares to follow
// the definitions topic) and connects the producer.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Prober, error) {
	if cfg.Source == "kafka" {
		p, err := NewWithChecks(cfg, nil, log, reg)
		if err != nil {
			return nil, err
		}
		p.fromFleet = true
		return p, nil
	}
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

// NewWithChecks runs the given checks instead of cfg.ChecksFile's.
func NewWithChecks(cfg Config, checks []check.Check, log *slog.Logger, reg prometheus.Registerer) (*Prober, error) {
	for i := range checks {
		checks[i].ApplyDefaults()
		if err := checks[i].Validate(); err != nil {
			return nil, fmt.Errorf("check %s: %w", checks[i].ID, err)
		}
	}
	opts := append(cfg.Kafka.ClientOptions(log),
		kgo.DefaultProduceTopic(cfg.Kafka.ResultsTopic),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	m := newMetrics(reg)
	ob, err := outbox.Open(outbox.Config{
		Dir: cfg.Outbox.Dir, MemoryRecords: cfg.Outbox.MemoryRecords, MaxSpoolBytes: cfg.Outbox.MaxSpoolBytes,
		SegmentBytes: spoolSegmentBytes, Batch: 1000,
	}, func(n int, err error) {
		m.dropped.Add(float64(n))
		log.Error("results dropped: the spool is full or failed", "results", n, "err", err)
	})
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("outbox.dir %s: %w", cfg.Outbox.Dir, err)
	}
	p := &Prober{
		cfg: cfg, log: log, checks: checks, client: cl, outbox: ob, metrics: m, sched: schedule.NewScheduler(schedule.RealClock{}),
		runners: map[string]*runner{}, watching: make(chan struct{}),
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_outbox_memory_results", Help: "Results queued in memory."},
			func() float64 { return float64(ob.Stats().Memory) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_outbox_spooled_results", Help: "Results spooled on disk."},
			func() float64 { return float64(ob.Stats().Spooled) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_outbox_spool_bytes", Help: "Size of the spool."},
			func() float64 { return float64(ob.Stats().SpoolBytes) }),
	)
	return p, nil
}

// spoolSegmentBytes is the size of one spool file.
const spoolSegmentBytes = 1 << 20

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
	senderCtx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	sent := make(chan struct{})
	go func() { defer close(sent); p.outbox.Run(senderCtx, p.send, 100*time.Millisecond) }()
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		p.sched.Run(ctx)
	}()
	p.apply(ctx, p.checks)
	var runErr error
	switch {
	case p.fromFleet:
		runErr = p.runFleet(ctx)
	case p.fromFile:
		p.watch(ctx)
	default:
		<-ctx.Done()
	}
	p.stopAll()
	<-schedDone
	stopSender()
	<-sent
	// Send what is queued while Kafka takes it; keep the rest on disk.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.FlushTimeout)
	defer cancel()
	ferr := p.outbox.Flush(fctx, p.send, 100*time.Millisecond)
	if err := p.outbox.Close(); err != nil {
		return fmt.Errorf("close outbox: %w", err)
	}
	if ferr != nil {
		st := p.outbox.Stats()
		p.log.Warn("stopped with results still queued; they are in the spool and are sent on the next start", "spooled", st.Spooled, "err", ferr)
	}
	p.log.Info("prober stopped")
	return runErr
}

// watch reloads the checks file on SIGHUP and when its size or modification
// time changes (and then holds still for one interval), until ctx is done.
func (p *Prober) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	close(p.watching)
	last, _ := statFile(p.cfg.ChecksFile)
	var pending *fileState
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
			// A change is applied once the file has stayed the same for a
			// whole interval, so a file caught half-written is never read.
			st, err := statFile(p.cfg.ChecksFile)
			switch {
			case err != nil || st == last:
				pending = nil
			case pending == nil || *pending != st:
				pending = &st
			default:
				last, pending = st, nil
				p.reload(ctx, "file changed")
			}
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
		Labels:          c.Labels,
		Attempts:        uint32(attempts),
		Phases:          phases(r.Phases),
	}
	for _, st := range r.Steps {
		sr := st.Result
		ev.Steps = append(ev.Steps, &eventsv1.StepResult{
			Name: st.Name, Duration: durationpb.New(sr.Duration), TimeToFirstByte: durationpb.New(sr.TTFB),
			HttpStatus: uint32(sr.HTTPStatus), Success: sr.Success, FailureClass: sr.Class, FailureMessage: sr.Message,
			Phases: phases(sr.Phases), Assertions: outcomes(sr.Assertions),
		})
	}
	ev.Assertions = outcomes(r.Assertions)
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
	for phase, d := range map[string]time.Duration{
		"dns": r.Phases.DNS, "connect": r.Phases.Connect, "tls": r.Phases.TLS,
		"processing": r.Phases.Processing, "transfer": r.Phases.Transfer,
	} {
		if d > 0 {
			p.metrics.phases.WithLabelValues(p.cfg.Location, phase).Observe(d.Seconds())
		}
	}

	ev := Result(c, p.cfg.Location, tick, r, attempts)
	value, err := proto.Marshal(ev)
	if err != nil { // cannot happen for a well-formed message; never drop silently
		p.log.Error("encode result", "check", c.ID, "err", err)
		p.metrics.produceError.Inc()
		return
	}
	p.outbox.Put(outbox.Record{Key: []byte(c.ID), Value: value, TimestampMS: tick.UnixMilli()})
}

// send produces a batch from the outbox and waits for Kafka to take it.
func (p *Prober) send(ctx context.Context, recs []outbox.Record) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Outbox.SendTimeout)
	defer cancel()
	krecs := make([]*kgo.Record, len(recs))
	headers := kafka.Headers(events.CheckResultV1)
	for i, r := range recs {
		krecs[i] = &kgo.Record{Key: r.Key, Value: r.Value, Headers: headers, Timestamp: time.UnixMilli(r.TimestampMS)}
	}
	if err := kafka.Produce(ctx, p.client, krecs...); err != nil {
		p.metrics.produceError.Inc()
		p.log.Warn("results not produced yet; they stay queued", "records", len(recs), "err", err)
		return err
	}
	p.metrics.produced.Add(float64(len(recs)))
	return nil
}

func phases(p probe.Phases) *eventsv1.Phases {
	return &eventsv1.Phases{
		Dns:              durationpb.New(p.DNS),
		Connect:          durationpb.New(p.Connect),
		TlsHandshake:     durationpb.New(p.TLS),
		ServerProcessing: durationpb.New(p.Processing),
		Transfer:         durationpb.New(p.Transfer),
	}
}

func outcomes(as []assert.Outcome) []*eventsv1.AssertionOutcome {
	var out []*eventsv1.AssertionOutcome
	for _, a := range as {
		out = append(out, &eventsv1.AssertionOutcome{Assertion: a.Assertion, Passed: a.Passed, Message: a.Message})
	}
	return out
}

func failureReason(c eventsv1.FailureClass) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "FAILURE_CLASS_"))
}
