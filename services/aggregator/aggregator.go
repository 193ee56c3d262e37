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
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
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
	Alerting     alert.Rules         `koanf:"alerting"`
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
		Alerting:        alert.Rules{Default: alert.DefaultRule()},
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
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	client   *kgo.Client
	metrics  *metrics
	trackers map[string]*alert.Tracker
	// restored is each check's state as last recorded, read at start-up.
	restored map[string]alert.State
	// afterWrite, when set (by tests), runs after a batch is durable and
	// before its offsets are committed; an error stops the aggregator there,
	// as a crash would.
	afterWrite func() error
}

type metrics struct {
	records     *prometheus.CounterVec
	batch       prometheus.Histogram
	transitions *prometheus.CounterVec
	lastEvent   prometheus.Gauge
	lag         prometheus.Gauge
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
	reg.MustRegister(m.records, m.batch, m.transitions, m.lastEvent, m.lag)
	return m
}

// New builds an aggregator writing to st.
func New(cfg Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (*Aggregator, error) {
	opts := append(cfg.Kafka.ClientOptions(log), kafka.GroupOptions(cfg.Group, cfg.Kafka.ResultsTopic)...)
	opts = append(opts, kgo.ProducerLinger(0))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Aggregator{
		cfg: cfg, log: log, store: st, client: cl, metrics: newMetrics(reg),
		trackers: map[string]*alert.Tracker{}, restored: map[string]alert.State{},
	}, nil
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
	if err := retry.Do(ctx, retry.Default, a.log, "restore alert states", a.restore); err != nil {
		return err
	}
	a.log.Info("aggregator started", "topic", a.cfg.Kafka.ResultsTopic, "group", a.cfg.Group)
	err := kafka.ConsumeBatches(ctx, a.client, a.log, kafka.Batching{
		MaxRecords: a.cfg.BatchMaxRecords, MaxWait: a.cfg.BatchMaxWait,
		Lag: func(n int64) { a.metrics.lag.Set(float64(n)) },
	}, a.handle)
	a.log.Info("aggregator stopped")
	return err
}

func (a *Aggregator) restore(ctx context.Context) error {
	rows, err := a.store.LatestAlerts(ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Rule == alert.RuleName {
			a.restored[r.CheckID] = alert.State{Down: r.State == stateName(true), Since: r.At}
		}
	}
	return nil
}

// handle makes one batch durable: dead letters, rows, then alert events.
func (a *Aggregator) handle(ctx context.Context, recs []*kgo.Record) error {
	start := time.Now()
	defer func() { a.metrics.batch.Observe(time.Since(start).Seconds()) }()

	var (
		rows  []store.ResultRow
		good  []*eventsv1.CheckResult
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
		good = append(good, ev)
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
	if err := retry.Do(ctx, retry.Default, a.log, "insert results", func(ctx context.Context) error {
		return a.store.InsertResults(ctx, rows)
	}); err != nil {
		return err
	}
	if err := a.rebuildRollups(ctx, rows); err != nil {
		return err
	}
	var transitions []*alert.Transition
	for _, ev := range good {
		tr, err := a.observe(ctx, ev)
		if err != nil {
			return err
		}
		if tr != nil {
			transitions = append(transitions, tr)
		}
	}
	if err := a.publish(ctx, transitions); err != nil {
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
func (a *Aggregator) rebuildRollups(ctx context.Context, rows []store.ResultRow) error {
	if len(rows) == 0 {
		return nil
	}
	var checks []string
	seen := map[string]bool{}
	from, to := rows[0].ScheduledAt, rows[0].ScheduledAt
	for _, r := range rows {
		if !seen[r.CheckID] {
			seen[r.CheckID] = true
			checks = append(checks, r.CheckID)
		}
		from, to = minTime(from, r.ScheduledAt), maxTime(to, r.ScheduledAt)
	}
	return retry.Do(ctx, retry.Default, a.log, "rebuild rollups", func(ctx context.Context) error {
		return a.store.RebuildRollups(ctx, checks, from, to)
	})
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

// observe feeds one result to its check's tracker, creating the tracker on
// first sight from the recorded state and the results already stored.
func (a *Aggregator) observe(ctx context.Context, ev *eventsv1.CheckResult) (*alert.Transition, error) {
	id := ev.GetCheckId()
	at := ev.GetScheduledAt().AsTime()
	tr, ok := a.trackers[id]
	if !ok {
		rule := a.cfg.Alerting.For(id)
		tr = alert.NewTracker(id, ev.GetCheckName(), rule, ev.GetInterval().AsDuration(), a.restored[id])
		var prior []store.Sample
		err := retry.Do(ctx, retry.Default, a.log, "read window", func(ctx context.Context) error {
			var err error
			prior, err = a.store.Samples(ctx, id, at.Add(-rule.Window), at)
			return err
		})
		if err != nil {
			return nil, err
		}
		samples := make([]alert.Sample, len(prior))
		for i, p := range prior {
			samples[i] = alert.Sample{ResultID: p.ResultID, At: p.ScheduledAt, Success: p.Success}
		}
		tr.Prime(samples)
		a.trackers[id] = tr
	}
	return tr.Observe(alert.Sample{ResultID: ev.GetResultId(), At: at, Success: ev.GetSuccess()}, ev.GetCheckName()), nil
}

// publish emits transitions to the alert topic and then records them in
// ClickHouse, whose copy is what a restart restores from.
func (a *Aggregator) publish(ctx context.Context, trs []*alert.Transition) error {
	if len(trs) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(trs))
	rows := make([]store.AlertRow, len(trs))
	for i, tr := range trs {
		ev := Event(tr)
		value, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{
			Topic: a.cfg.Kafka.AlertsTopic, Key: []byte(tr.CheckID + "/" + alert.RuleName),
			Value: value, Headers: kafka.Headers(events.AlertStateChangedV1), Timestamp: tr.At,
		}
		rows[i] = AlertRow(tr)
		a.log.Info("alert state changed", "check", tr.CheckID, "state", stateName(tr.Down), "message", tr.Message)
	}
	if err := retry.Do(ctx, retry.Default, a.log, "produce alert events", func(ctx context.Context) error {
		return kafka.Produce(ctx, a.client, recs...)
	}); err != nil {
		return err
	}
	if err := retry.Do(ctx, retry.Default, a.log, "insert alert events", func(ctx context.Context) error {
		return a.store.InsertAlerts(ctx, rows)
	}); err != nil {
		return err
	}
	for _, tr := range trs {
		a.metrics.transitions.WithLabelValues(stateName(tr.Down)).Inc()
	}
	return nil
}

func stateName(down bool) string {
	if down {
		return "down"
	}
	return "up"
}

// Event is the AlertStateChanged event of a transition.
func Event(tr *alert.Transition) *eventsv1.AlertStateChanged {
	ev := &eventsv1.AlertStateChanged{
		EventId:       tr.EventID,
		CheckId:       tr.CheckID,
		CheckName:     tr.CheckName,
		Rule:          alert.RuleName,
		State:         alert.AlertState(tr.Down),
		PreviousState: alert.AlertState(!tr.Down),
		At:            timestamppb.New(tr.At),
		Message:       tr.Message,
		Availability:  tr.Availability,
		Threshold:     tr.Rule.Threshold,
		Window:        durationpb.New(tr.Rule.Window),
		Samples:       uint32(tr.Samples),
		Successes:     uint32(tr.Successes),
		LastResultId:  tr.LastResultID,
	}
	if !tr.DownSince.IsZero() {
		ev.DownSince = timestamppb.New(tr.DownSince)
	}
	return ev
}

// AlertRow is the alert_events row of a transition.
func AlertRow(tr *alert.Transition) store.AlertRow {
	return store.AlertRow{
		EventID: tr.EventID, CheckID: tr.CheckID, CheckName: tr.CheckName, Rule: alert.RuleName,
		State: stateName(tr.Down), PreviousState: stateName(!tr.Down), At: tr.At, Message: tr.Message,
		Availability: tr.Availability, Threshold: tr.Rule.Threshold, WindowMS: uint64(tr.Rule.Window.Milliseconds()),
		Samples: uint32(tr.Samples), Successes: uint32(tr.Successes), DownSince: tr.DownSince,
		LastResultID: tr.LastResultID,
	}
}
