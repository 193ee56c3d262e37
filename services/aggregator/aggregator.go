// Package aggregator consumes check results into ClickHouse and evaluates
// alert rules over them, emitting AlertStateChanged events.
//
// It must never commit a results offset before the rows, dead letters and
// alert events that record produced are durable, and every write it makes is
// idempotent, so a redelivered or replayed batch changes nothing.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"log/slog"
	"time"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/telemetry"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is the aggregator's configuration.
type Config struct {
	Kafka kafka.Config `koanf:"kafka"`
	// Group is the consumer group of the results topic.
	Group string `koanf:"group"`
	// BatchMaxRecords caps the records written in one ClickHouse insert.
	BatchMaxRecords int `koanf:"batch_max_records"`
	// BatchMaxWait is how long a batch waits for more records once it has one.
	BatchMaxWait time.Duration       `koanf:"batch_max_wait"`
	ClickHouse   clickhouse.Config   `koanf:"clickhouse"`
	Alerting     alert.Config        `koanf:"alerting"`
	Admin        admin.Config        `koanf:"admin"`
	Log          telemetry.LogConfig `koanf:"log"`
}

// DefaultConfig is the aggregator's default configuration.
func DefaultConfig() Config {
	return Config{
		Kafka:           kafka.DefaultConfig(),
		Group:           "picket-aggregator",
		BatchMaxRecords: 10000,
		BatchMaxWait:    250 * time.Millisecond,
		ClickHouse:      clickhouse.DefaultConfig(),
		Alerting:        alert.DefaultConfig(),
		Admin:           admin.Config{Addr: ":9102"},
		Log:             telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case c.Group == "":
		return errors.New("group: must not be empty")
	case c.BatchMaxRecords < 1:
		return fmt.Errorf("batch_max_records: %d must be at least 1", c.BatchMaxRecords)
	case c.BatchMaxWait < 0:
		return fmt.Errorf("batch_max_wait: %s must not be negative", c.BatchMaxWait)
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	if err := c.Alerting.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Aggregator is the results consumer.
type Aggregator struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	client  *kgo.Client
	metrics *metrics
	alerts  *alerting
	// afterWrite, when set (by tests), runs after a batch is durable and
	// before its offsets are committed; an error stops the aggregator there,
	// as a crash would.
	afterWrite func() error
	// beforePublish, when set (by tests), runs after the results are stored
	// and before the batch's transitions are emitted; an error stops the
	// aggregator there.
	beforePublish func() error
	// now is the wall clock: when transitions are detected (max_page_age)
	// and how silent partitions' clocks advance.
	now func() time.Time
}

type metrics struct {
	records     *prometheus.CounterVec
	batch       prometheus.Histogram
	transitions *prometheus.CounterVec
	lastEvent   prometheus.Gauge
	lag         prometheus.Gauge
	evaluation  *prometheus.CounterVec
	pending     prometheus.Gauge
	tracked     prometheus.Gauge
	historical  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_aggregator_records_total",
			Help: "Result records consumed, by outcome (ingested, dead_lettered).",
		}, []string{"outcome"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "picket_aggregator_batch_duration_seconds",
			Help:    "Time to make one polled batch durable, retries included.",
			Buckets: prometheus.DefBuckets,
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_aggregator_alert_transitions_total",
			Help: "Alert state transitions emitted, by new state.",
		}, []string{"state"}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "picket_aggregator_last_event_time_seconds",
			Help: "Scheduled time of the newest result ingested (the event-time watermark).",
		}),
	}
	m.lag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "picket_aggregator_consumer_lag_records",
		Help: "Result records in Kafka not yet consumed, as of the last fetch.",
	})
	m.evaluation = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "picket_aggregator_rule_inputs_total",
		Help: "Results offered to the alert rules, by outcome: evaluated in order, duplicate (seen before), late (behind the watermark by more than the lateness; stored but not evaluated).",
	}, []string{"outcome"})
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "picket_aggregator_results_awaiting_watermark",
		Help: "Results buffered until the event-time watermark passes them (a gap from a location is being waited for).",
	})
	m.tracked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "picket_aggregator_tracked_checks",
		Help: "Checks whose alert rules this instance holds in memory (a check that stopped reporting is evicted after its rules' lookback).",
	})
	m.historical = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "picket_aggregator_historical_transitions_total",
		Help: "Transitions older than alerting.max_page_age when decided (restore, changed rules, a backlog): recorded, never paged.",
	})
	reg.MustRegister(m.records, m.batch, m.transitions, m.lastEvent, m.lag, m.evaluation, m.pending, m.tracked, m.historical)
	return m
}

// New builds an aggregator writing to st.
func New(cfg Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (*Aggregator, error) {
	a := &Aggregator{cfg: cfg, log: log, store: st, metrics: newMetrics(reg), now: time.Now}
	a.alerts = newAlerting(a)
	// A new assignment may bring checks another instance was evaluating: the
	// rules' state of those partitions is rebuilt before their next batch;
	// a revoked or lost partition's checks are forgotten.
	opts := append(cfg.Kafka.ClientOptions(log), kafka.GroupOptions(cfg.Group, cfg.Kafka.ResultsTopic)...)
	opts = append(opts, kgo.ProducerLinger(0), kgo.OnPartitionsAssigned(a.alerts.assigned),
		kgo.OnPartitionsRevoked(a.alerts.revoked), kgo.OnPartitionsLost(a.alerts.revoked))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	a.client = cl
	return a, nil
}

// Ready reports whether Kafka and ClickHouse answer.
func (a *Aggregator) Ready(ctx context.Context) error {
	return errors.Join(a.client.Ping(ctx), a.store.Ping(ctx))
}

// Run migrates the schema, restores alert states and consumes until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error {
	defer a.client.Close()
	if err := retry.Do(ctx, retry.Default, a.log, "create topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, a.client, a.cfg.Kafka)
	}); err != nil {
		return err
	}
	if err := retry.Do(ctx, retry.Default, a.log, "migrate clickhouse", func(ctx context.Context) error {
		applied, err := a.store.Migrate(ctx)
		if len(applied) > 0 {
			a.log.Info("applied migrations", "migrations", applied)
		}
		return err
	}); err != nil {
		return err
	}
	a.log.Info("aggregator started", "topic", a.cfg.Kafka.ResultsTopic, "group", a.cfg.Group)
	// Between batches, silent partitions' clocks still advance.
	idleCtx, stopIdle := context.WithCancel(ctx)
	idleDone := make(chan struct{})
	go func() {
		defer close(idleDone)
		if err := a.alerts.idle(idleCtx, time.Second); err != nil {
			a.log.Error("alert rules' idle clock stopped", "err", err)
		}
	}()
	defer func() { stopIdle(); <-idleDone }()
	err := kafka.ConsumeBatches(ctx, a.client, a.log, kafka.Batching{
		MaxRecords: a.cfg.BatchMaxRecords, MaxWait: a.cfg.BatchMaxWait,
		Lag: func(n int64) { a.metrics.lag.Set(float64(n)) },
	}, a.handle)
	a.log.Info("aggregator stopped")
	return err
}

// handle makes one batch durable: dead letters, rows, then alert events.
func (a *Aggregator) handle(ctx context.Context, recs []*kgo.Record) error {
	start := time.Now()
	defer func() { a.metrics.batch.Observe(time.Since(start).Seconds()) }()

	var (
		rows  []store.ResultRow
		good  []*kgo.Record
		evs   []*eventsv1.CheckResult
		dead  []*kgo.Record
		now   = time.Now()
		maxAt time.Time
	)
	for _, r := range recs {
		ev, err := ingest.Decode(r)
		if err != nil {
			a.log.Warn("dead-lettering result record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", err)
			dead = append(dead, kafka.DeadLetter(a.cfg.Kafka.DeadLetterTopic, r, err, now))
			continue
		}
		good, evs = append(good, r), append(evs, ev)
		rows = append(rows, ingest.Row(ev))
		if at := ev.GetScheduledAt().AsTime(); at.After(maxAt) {
			maxAt = at
		}
	}
	if err := retry.Do(ctx, retry.Default, a.log, "produce dead letters", func(ctx context.Context) error {
		return kafka.Produce(ctx, a.client, dead...)
	}); err != nil {
		return err
	}
	// Rebuild the rules' state first if needed (start, reassignment): from
	// what is stored, before this batch adds to it.
	a.alerts.mu.Lock()
	defer a.alerts.mu.Unlock()
	restored, err := a.alerts.restorePending(ctx)
	if err != nil {
		return err
	}
	if err := retry.Do(ctx, retry.Default, a.log, "insert results", func(ctx context.Context) error {
		return a.store.InsertResults(ctx, rows)
	}); err != nil {
		return err
	}
	transitions := append(restored, a.alerts.observe(good, evs)...)
	if a.beforePublish != nil {
		if err := a.beforePublish(); err != nil {
			return err
		}
	}
	// Alerts before rollups: the rollups are not on the alert path, and the
	// batch is committed only after both anyway.
	if err := a.alerts.publish(ctx, transitions); err != nil {
		return err
	}
	if err := a.rebuildRollups(ctx, good, rows); err != nil {
		return err
	}
	a.metrics.records.WithLabelValues("ingested").Add(float64(len(rows)))
	a.metrics.records.WithLabelValues("dead_lettered").Add(float64(len(dead)))
	if !maxAt.IsZero() {
		a.metrics.lastEvent.Set(float64(maxAt.UnixMilli()) / 1000)
	}
	if a.afterWrite != nil {
		return a.afterWrite()
	}
	return nil
}

// rebuildRollups recomputes the minute, hour and day rollups the batch's rows
// fall in, from the deduplicated raw rows: a redelivered or late result
// changes nothing, or exactly its own buckets.
func (a *Aggregator) rebuildRollups(ctx context.Context, recs []*kgo.Record, rows []store.ResultRow) error {
	// Per partition: a batch mixes partitions that may be far apart in event
	// time (catching up), and one span over all of them would rebuild
	// buckets nothing touched.
	type span struct {
		checks   []string
		seen     map[string]bool
		from, to time.Time
	}
	var order []int32
	spans := map[int32]*span{}
	for i, r := range rows {
		p := recs[i].Partition
		sp := spans[p]
		if sp == nil {
			sp = &span{seen: map[string]bool{}, from: r.ScheduledAt, to: r.ScheduledAt}
			spans[p] = sp
			order = append(order, p)
		}
		if !sp.seen[r.CheckID] {
			sp.seen[r.CheckID] = true
			sp.checks = append(sp.checks, r.CheckID)
		}
		sp.from, sp.to = minTime(sp.from, r.ScheduledAt), maxTime(sp.to, r.ScheduledAt)
	}
	for _, p := range order {
		sp := spans[p]
		if err := retry.Do(ctx, retry.Default, a.log, "rebuild rollups", func(ctx context.Context) error {
			return a.store.RebuildRollups(ctx, sp.checks, sp.from, sp.to)
		}); err != nil {
			return err
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
