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
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// Config is the aggregator's configuration.
type Config struct {
	Kafka kafka.Config `koanf:"kafka"`
	// Group is the consumer group of the results topic.
	Group string `koanf:"group"`
	// BatchMaxRecords caps the records of a batch and of one ClickHouse
	// insert.
	BatchMaxRecords int `koanf:"batch_max_records"`
	// BatchMaxWait is how long a batch waits for more records once it has
	// one, while the consumer is behind; caught up, a batch is handed over as
	// soon as its fetch returns.
	BatchMaxWait time.Duration `koanf:"batch_max_wait"`
	// RollupInterval is how often the alert events and rows of what was
	// ingested are stored and their rollups rebuilt (one statement per table
	// for everything ingested since), and so how long offsets wait to be
	// committed.
	RollupInterval time.Duration `koanf:"rollup_interval"`
	// StallTimeout is how long the consumer may not advance, with records
	// waiting, before it is reported stalled (/readyz, a metric, an error log).
	StallTimeout time.Duration       `koanf:"stall_timeout"`
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
		RollupInterval:  time.Second,
		StallTimeout:    time.Minute,
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
	case c.StallTimeout <= 0:
		return fmt.Errorf("stall_timeout: %s must be positive", c.StallTimeout)
	case c.RollupInterval <= 0:
		return fmt.Errorf("rollup_interval: %s must be positive", c.RollupInterval)
	case c.RollupInterval > c.StallTimeout/2:
		// Offsets wait for the rollups: longer would look like a stall.
		return fmt.Errorf("rollup_interval: %s must be at most half the stall_timeout (%s)", c.RollupInterval, c.StallTimeout)
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
	// progress is the consumer's lag and whether it is stalled.
	progress *kafka.Progress
	// revocations keeps a late rollup flush from committing the offsets of
	// partitions revoked meanwhile.
	revocations *kafka.Revocations
	// rollupFault, when set (by tests), fails the rollup rebuild, which is
	// then retried, while it returns an error.
	rollupFault func() error
	// afterWrite, when set (by tests), runs after the batches handled since
	// the last rollup rebuild are durable (rows, alert events, rollups) and
	// before their offsets are committed; an error stops the aggregator
	// there, as a crash would.
	afterWrite func() error
	// beforePublish, when set (by tests), runs after a batch is decoded and
	// evaluated and before its transitions are emitted (nothing of it is
	// stored yet); an error stops the aggregator there.
	beforePublish func() error
	// beforeStore, when set (by tests), runs in a flush after the alert
	// events waiting are stored and before the rows of the batches it covers
	// (whose transitions are published) are; an error stops the aggregator
	// there.
	beforeStore func() error
	// beforeAlertInsert, when set (by tests), runs before the alert_events
	// rows waiting (of published transitions) are inserted; an error stops
	// the aggregator there (the rows are not stored), as a crash would.
	beforeAlertInsert func() error
	// beforeRollups, when set (by tests), runs in a flush after its rows
	// are stored and before their rollups are rebuilt; an error stops the
	// aggregator there.
	beforeRollups func() error
	// now is the wall clock: when transitions are detected (max_page_age)
	// and how silent partitions' clocks advance.
	now func() time.Time
	// Used by the consuming goroutine only: pending are the rows of the
	// batches handled since the last flush began, which it stores; rollups
	// the buckets they touch, whose minutes it rebuilds.
	pending []store.ResultRow
	rollups ingest.Spans
	// unflushed counts the rows handled since the last flush began.
	unflushed int
	// rowsInFlight is set while a flush in the air has rows to store: newer
	// rows then wait for it, so that what is stored of a partition is always
	// a prefix of it (a restore counts what it reads back as duplicates of
	// what is redelivered, and nothing after it as late).
	rowsInFlight atomic.Bool
	// lastResult is when (a.now, Unix ns) handle last took a result: the
	// hours and days of live minutes are rebuilt once results pause.
	lastResult atomic.Int64
	// inserting is the last insert of a full batch's rows that handle
	// started (nil: none yet): it runs while the next batch is decoded and
	// evaluated, the next one waits for it, and so does the flush that
	// covers its rows.
	inserting *rowsInsert
	// behind is set while the last batch handled was full: the consumer
	// is in a backlog (used by the consuming goroutine only).
	behind bool
	// stopped is Run's context's Done: a flush after it is the last.
	stopped <-chan struct{}
	// coarse are the buckets whose minutes were rebuilt and whose hours and
	// days wait (see flush).
	coarse coarseRollups
	// records are the alert_events rows of published transitions, stored
	// by the next flush; flushTakesAlerts is set from a flush's start until
	// it has stored them.
	records          alertRecords
	flushTakesAlerts atomic.Bool
}

// coarseRollups are buckets whose hours and days wait to be rebuilt from
// their minutes.
type coarseRollups struct {
	// mu is held while taking and rebuilding them, so that rebuilds run in
	// order: a later one reads the minutes an earlier one read, or newer.
	mu    sync.Mutex
	spans ingest.Spans
	since time.Time // when the oldest of them began waiting
	// minutes are the newest minute of each partition a backlog's flush
	// left to rebuild with the hours and days (or the next flush).
	minutes ingest.Spans
	// heldMu guards released: while a backlog defers the hours and days of
	// its flushes, the offsets of those flushes are held (Batching.Hold)
	// until released is closed, by the rebuild that covers them.
	heldMu   sync.Mutex
	released chan struct{}
}

// hold is Batching.Hold: the channel the offsets of a flush that just
// landed wait for, nil when its hours and days are rebuilt (or wait only
// for a live minute, which the start's rebuildRecent covers).
func (c *coarseRollups) hold() <-chan struct{} {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if c.released == nil {
		return nil
	}
	return c.released
}

// holding reports whether offsets wait for the hours and days.
func (c *coarseRollups) holding() bool { return c.hold() != nil }

// setHeld makes the offsets of the flush deferring its hours and days wait
// for their rebuild.
func (c *coarseRollups) setHeld() {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if c.released == nil {
		c.released = make(chan struct{})
	}
}

// release lets the offsets held for the hours and days be committed.
func (c *coarseRollups) release() {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if c.released != nil {
		close(c.released)
		c.released = nil
	}
}

type metrics struct {
	records     *prometheus.CounterVec
	batch       prometheus.Histogram
	transitions *prometheus.CounterVec
	lastEvent   prometheus.Gauge
	evaluation  *prometheus.CounterVec
	pending     prometheus.Gauge
	tracked     prometheus.Gauge
	historical  prometheus.Counter
	statements  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, progress *kafka.Progress) *metrics {
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
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "picket_aggregator_consumer_lag_records",
		Help: "Result records waiting in this instance's partitions: end offset minus committed offset, as last measured.",
	}, func() float64 { return float64(progress.Lag()) })
	stalled := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "picket_aggregator_consumer_stalled_seconds",
		Help: "How long the consumer has not advanced with records waiting, once that is stall_timeout or more; 0 while it makes progress.",
	}, func() float64 { return progress.Stalled().Seconds() })
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
	m.statements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "picket_aggregator_insert_statements_total",
		Help: "INSERT statements made to ClickHouse, by table (retries included): a part each on a real server.",
	}, []string{"table"})
	reg.MustRegister(m.records, m.batch, m.transitions, m.lastEvent, lag, stalled, m.evaluation, m.pending, m.tracked, m.historical, m.statements)
	return m
}

// New builds an aggregator writing to st.
func New(cfg Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (*Aggregator, error) {
	progress := kafka.NewProgress(cfg.StallTimeout)
	a := &Aggregator{cfg: cfg, log: log, store: st, metrics: newMetrics(reg, progress), progress: progress, now: time.Now}
	reg.MustRegister(a.records.gauge())
	a.alerts = newAlerting(a)
	// A new assignment may bring checks another instance was evaluating: the
	// rules' state of those partitions is rebuilt before their next batch;
	// a revoked or lost partition's checks are forgotten.
	opts := append(cfg.Kafka.ClientOptions(log), kafka.GroupOptions(cfg.Group, cfg.Kafka.ResultsTopic)...)
	// Offsets of a partition that left while its batches waited for the
	// rollup flush are not committed after it (revocations).
	a.revocations = kafka.NewRevocations()
	revoked := func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		a.revocations.Revoked(m)
		a.alerts.revoked(ctx, cl, m)
	}
	opts = append(opts, kgo.ProducerLinger(0), kgo.OnPartitionsAssigned(a.alerts.assigned),
		kgo.OnPartitionsRevoked(revoked), kgo.OnPartitionsLost(revoked))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	a.client = cl
	return a, nil
}

// Ready reports whether Kafka and ClickHouse answer, the consumer makes
// progress (not stalled for stall_timeout with records waiting) and the
// alert history keeps up (no published transition unstored that long).
func (a *Aggregator) Ready(ctx context.Context) error {
	return errors.Join(a.client.Ping(ctx), a.store.Ping(ctx), a.progress.Err(), a.records.behind(a.cfg.StallTimeout))
}

// Run migrates the schema, restores alert states and consumes until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error {
	defer a.client.Close()
	if err := retry.Do(ctx, retry.Default, a.log, "create topics", func(ctx context.Context) error {
		k := a.cfg.Kafka
		return kafka.EnsureTopics(ctx, a.client, k, k.ResultsTopic, k.AlertsTopic, k.DeadLetterTopic)
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
	// The hours and days of the newest minutes may not have been rebuilt
	// before a crash (they wait for their minute to close): rebuild those
	// of the restore horizon.
	if err := retry.Do(ctx, retry.Default, a.log, "rebuild recent hour and day rollups", a.rebuildRecent); err != nil {
		return err
	}
	a.stopped = ctx.Done()
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
	// Hours and days waiting for their live minute are rebuilt on a
	// cadence even when no batch comes; so are the alert events of
	// transitions no batch decided (the idle clock's, a restore's).
	coarseDone := make(chan struct{})
	go func() {
		defer close(coarseDone)
		t := time.NewTicker(storeAlertsEvery)
		defer t.Stop()
		for {
			select {
			case <-idleCtx.Done():
				return
			case <-t.C:
			}
			if err := a.storeWaitingAlerts(idleCtx); err != nil && idleCtx.Err() == nil {
				a.log.Error("alert events not stored", "err", err)
			}
			if err := a.rebuildCoarse(idleCtx, nil, coarseTick); err != nil && idleCtx.Err() == nil {
				a.log.Error("hour and day rollups not rebuilt", "err", err)
			}
		}
	}()
	defer func() { stopIdle(); <-coarseDone }()
	err := kafka.ConsumeBatches(ctx, a.client, a.log, kafka.Batching{
		MaxRecords: a.cfg.BatchMaxRecords, MaxWait: a.cfg.BatchMaxWait, Progress: a.progress,
		Flush: a.flush, FlushEvery: a.cfg.RollupInterval, Revocations: a.revocations,
		FlushDue: a.flushDue, Hold: a.coarse.hold,
	}, a.handle)
	stopIdle()
	<-idleDone
	<-coarseDone
	if err == nil {
		// A clean stop: the alert events of transitions decided since the
		// last flush (by the idle clock), and the hours and days still
		// waiting.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := a.storeAlerts(rctx); err != nil {
			a.log.Warn("alert events not stored at stop; the next start stores them from the alert topic", "err", err)
		}
		if err := a.rebuildCoarse(rctx, nil, coarseAll); err != nil {
			a.log.Warn("hour and day rollups not rebuilt at stop; they are at the next start", "err", err)
		}
		cancel()
	}
	a.log.Info("aggregator stopped")
	return err
}

// handle evaluates one batch and publishes the transitions it decides:
// dead letters, then alert events. Its alert_events rows and its rows are
// stored by the next flush, before its offsets are committed.
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
	if len(good) > 0 {
		a.lastResult.Store(a.now().UnixNano())
	}
	// A dead letter too large to copy whole is parked cut to fit: one the
	// producer refused would stop ingestion for good.
	if err := a.retry(ctx, "produce dead letters", func(ctx context.Context) error {
		return kafka.ProduceDeadLetters(ctx, a.client, dead...)
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
	// Published before the rows are stored: the alert waits for no insert.
	// A crash in between redelivers the batch (its offsets wait for the
	// flush); the rules being a function of event time, it decides the same
	// transitions, with the same ids, which the restored states (or the
	// notifier's dedupe by event id) make no one hear twice.
	transitions := append(restored, a.alerts.observe(good, evs)...)
	if a.beforePublish != nil {
		if err := a.beforePublish(); err != nil {
			return err
		}
	}
	if err := a.alerts.publish(ctx, transitions); err != nil {
		return err
	}
	// The rows and their rollups are off the alert path: stored and
	// rebuilt for every batch since the last flush, every rollup_interval
	// (or sooner when many rows wait: flushDue), while the next batches are
	// handled, and before the batches' offsets are committed. A crash or a
	// rebalance in between redelivers those batches. A batch's worth of
	// rows (a backlog) is stored here at once, after the publish, while the
	// flush in the air rebuilds the rollups of earlier batches.
	a.pending = append(a.pending, rows...)
	a.unflushed += len(rows)
	a.behind = len(recs) >= a.cfg.BatchMaxRecords
	for i, r := range rows {
		a.rollups.Add(good[i].Partition, r)
	}
	if len(a.pending) >= a.cfg.BatchMaxRecords && !a.rowsInFlight.Load() {
		// One at a time, in order: what is stored of a partition stays a
		// prefix of it.
		if err := a.inserting.wait(); err != nil {
			return err
		}
		a.inserting = a.insertRows(ctx, a.pending)
		a.pending = nil
	}
	a.metrics.records.WithLabelValues("ingested").Add(float64(len(rows)))
	a.metrics.records.WithLabelValues("dead_lettered").Add(float64(len(dead)))
	if !maxAt.IsZero() {
		a.metrics.lastEvent.Set(float64(maxAt.UnixMilli()) / 1000)
	}
	return nil
}

// rowsInsert is an insert of rows running off the consuming goroutine.
type rowsInsert struct {
	done chan struct{}
	err  error
}

// wait returns once the insert (if any) is done, with its error.
func (r *rowsInsert) wait() error {
	if r == nil {
		return nil
	}
	<-r.done
	return r.err
}

// insertGrace is how long an insert handle started may go on once the
// consumer stops: a flush waits for it, and one landing at a clean stop
// commits what was handled.
const insertGrace = 10 * time.Second

// insertRows starts inserting rows (retried) and returns it.
func (a *Aggregator) insertRows(ctx context.Context, rows []store.ResultRow) *rowsInsert {
	r := &rowsInsert{done: make(chan struct{})}
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(insertGrace, cancel) })
	go func() {
		defer close(r.done)
		defer cancel()
		defer stop()
		r.err = a.retry(ictx, "insert results", func(ctx context.Context) error {
			a.metrics.statements.WithLabelValues("check_results").Inc()
			return a.store.InsertResults(ctx, rows)
		})
	}()
	return r
}

// pendingBatches bounds the rows handled and not flushed, in
// batch_max_records: once that many wait with a flush in the air, the
// consumer waits for it (a backlog: while it is in the air the rollups of
// the next flush gather, so a flush per batch does not rebuild the same
// buckets again and again).
const pendingBatches = 5

// flushDue says whether the rows handled since the last flush are to be
// flushed without waiting for the rollup_interval: a batch's worth with no
// flush in the air (a backlog keeps one in the air), pendingBatches' worth
// with one.
func (a *Aggregator) flushDue(inFlight bool) bool {
	if inFlight {
		return a.unflushed >= pendingBatches*a.cfg.BatchMaxRecords
	}
	// A backlog that just ended (its hours and days wait, holding offsets)
	// is flushed at once, to rebuild them.
	return a.unflushed >= a.cfg.BatchMaxRecords || a.unflushed > 0 && !a.behind && a.coarse.holding()
}

// How long hours and days wait at most to be rebuilt: those a backlog's
// flushes deferred, holding their offsets, coarseEvery; those of live
// minutes, liveCoarseEvery, or until their minute closes, or until no
// results have come for coarseIdle. A live hour's rebuild re-reads every
// minute of the hour so far, for every check touched since the last one:
// late in an hour, for 10,000 checks, 4 s of the engine's time
// (BenchmarkRebuildHourOf10000Checks). Every 10 s that was 40 % of the
// engine; once a minute, at most 7 %. Only a series' last 1 h or 1 d step
// reads the current hour or day (a status page's today and every window
// ending now read its minutes): it lags the minutes by up to a minute while
// results keep coming.
const (
	coarseEvery     = 10 * time.Second
	liveCoarseEvery = time.Minute
	coarseIdle      = 2 * time.Second
)

// flush takes the rows handled since the last flush and the buckets they
// touched, and returns their write: run by the consumer while it goes on
// with the next batches (the alert path never waits for it), and followed
// by the commit of those batches' offsets. It stores the alert events
// waiting (those batches' transitions, published, and any since), then the
// rows handle has not (fewer than batch_max_records), then rebuilds their
// minutes, then the
// hours and days: at once for rows outside the wall clock's current minute
// (history, a minute that just closed), while those of live results wait
// until their minute closes, results pause or liveCoarseEvery has passed
// (one statement per table a minute instead of every second, while results
// keep coming). In a backlog (the last batch
// was full) the hours and days wait too, until the backlog ends or
// coarseEvery has passed, and the offsets of its flushes wait for them
// (coarseRollups.hold): a flush per batch would re-read each hour's minutes
// and each day's hours once per flush, as much work as the minutes.
func (a *Aggregator) flush() func(context.Context) error {
	rows, spans, inserting := a.pending, a.rollups, a.inserting
	a.pending, a.rollups, a.unflushed = nil, ingest.Spans{}, 0
	a.rowsInFlight.Store(len(rows) > 0)
	mode := coarseFlush
	if a.behind && !spans.Empty() {
		mode = coarseDefer
	}
	a.flushTakesAlerts.Store(true)
	return func(ctx context.Context) error {
		select {
		case <-a.stopped:
			mode = coarseAll // the last flush: nothing is to wait
		default:
		}
		err := a.storeAlerts(ctx)
		a.flushTakesAlerts.Store(false)
		if err != nil {
			return err
		}
		if a.beforeStore != nil {
			if err := a.beforeStore(); err != nil {
				return err
			}
		}
		// The rows handle is inserting, first.
		if err := inserting.wait(); err != nil {
			return err
		}
		if len(rows) > 0 {
			if err := a.retryFlush(ctx, "insert results", func(ctx context.Context) error {
				a.metrics.statements.WithLabelValues("check_results").Inc()
				return a.store.InsertResults(ctx, rows)
			}); err != nil {
				return err
			}
			a.rowsInFlight.Store(false)
		}
		if a.beforeRollups != nil {
			if err := a.beforeRollups(); err != nil {
				return err
			}
		}
		if err := a.rebuildFlushed(ctx, spans, mode); err != nil {
			return err
		}
		if a.afterWrite != nil {
			return a.afterWrite()
		}
		return nil
	}
}

// rebuildFlushed rebuilds the minutes of spans, then, as mode says, the
// hours and days. In a backlog (coarseDefer) each partition's newest minute
// waits with the hours, holding the offsets: the next flush's rows of that
// partition mostly fall in it, and it is rebuilt once instead of once per
// flush.
func (a *Aggregator) rebuildFlushed(ctx context.Context, spans ingest.Spans, mode coarseMode) error {
	c := &a.coarse
	c.mu.Lock()
	defer c.mu.Unlock()
	minutes := c.minutes
	c.minutes = ingest.Spans{}
	minutes.Merge(spans)
	now, open := minutes, ingest.Spans{}
	if mode == coarseDefer {
		now, open = minutes.SplitNewestMinute()
	}
	if err := a.rebuildMinutes(ctx, now); err != nil {
		c.minutes = minutes // still to rebuild
		return err
	}
	c.minutes = open
	return a.rebuildCoarseLocked(ctx, &spans, mode)
}

// rebuildMinutes rebuilds the minutes of spans, a statement for each span
// of merged partitions, each retried.
func (a *Aggregator) rebuildMinutes(ctx context.Context, spans ingest.Spans) error {
	return spans.EachMerged(time.Minute, func(checks []string, from, to time.Time) error {
		return a.retryFlush(ctx, "rebuild rollups", func(ctx context.Context) error {
			if a.rollupFault != nil {
				if err := a.rollupFault(); err != nil {
					return err
				}
			}
			a.metrics.statements.WithLabelValues("check_rollup_1m").Inc()
			return a.store.RebuildMinutes(ctx, checks, from, to)
		})
	})
}

// live reports whether rows scheduled in [from, to] are in the current
// minute of the wall clock now (or the next): their minute is still
// filling, so their hour and day are rebuilt once it has closed.
func live(now time.Time, from, to time.Time) bool {
	current := now.Truncate(time.Minute)
	return !from.Before(current) && !to.After(now.Add(time.Minute))
}

// coarseMode is who asks rebuildCoarse, which decides whether the hours
// and days waiting are rebuilt now.
type coarseMode int

const (
	// coarseTick is the cadence: rebuilt once they have waited coarseEvery
	// (held by a backlog) or liveCoarseEvery, or, when no backlog holds
	// them, if one is outside the current minute or results have paused.
	coarseTick coarseMode = iota
	// coarseFlush is a flush of a consumer caught up: rebuilt too if a
	// backlog held them (it ended).
	coarseFlush
	// coarseDefer is a flush in a backlog: its buckets wait, holding its
	// offsets, until coarseEvery has passed.
	coarseDefer
	// coarseAll is a stop: rebuilt now.
	coarseAll
)

// rebuildCoarse adds the buckets of added (whose minutes are rebuilt) to
// those waiting for their hours and days, and rebuilds all of them when
// mode says they are due (see coarseMode); each statement is retried. A
// rebuild releases the offsets held for them.
func (a *Aggregator) rebuildCoarse(ctx context.Context, added *ingest.Spans, mode coarseMode) error {
	a.coarse.mu.Lock()
	defer a.coarse.mu.Unlock()
	return a.rebuildCoarseLocked(ctx, added, mode)
}

func (a *Aggregator) rebuildCoarseLocked(ctx context.Context, added *ingest.Spans, mode coarseMode) error {
	c := &a.coarse
	now := a.now()
	if added != nil && !added.Empty() {
		if c.spans.Empty() {
			c.since = now
		}
		c.spans.Merge(*added)
		if mode == coarseDefer {
			c.setHeld()
		}
	}
	if c.spans.Empty() {
		c.release()
		return nil
	}
	wait := liveCoarseEvery
	if c.holding() {
		wait = coarseEvery
	}
	due := mode == coarseAll || now.Sub(c.since) >= wait
	if !due && (mode == coarseFlush || mode == coarseTick && !c.holding()) {
		due = mode == coarseFlush && c.holding() || now.Sub(time.Unix(0, a.lastResult.Load())) >= coarseIdle ||
			c.spans.Any(func(from, to time.Time) bool { return !live(now, from, to) })
	}
	if !due {
		if !c.minutes.Empty() {
			c.setHeld()
		}
		return nil
	}
	// The minutes a backlog left waiting first.
	if err := a.rebuildMinutes(ctx, c.minutes); err != nil {
		return err
	}
	c.minutes = ingest.Spans{}
	if err := c.spans.EachMerged(time.Minute, func(checks []string, from, to time.Time) error {
		return a.retryFlush(ctx, "rebuild hour and day rollups", func(ctx context.Context) error {
			a.metrics.statements.WithLabelValues("check_rollup_1h").Inc()
			a.metrics.statements.WithLabelValues("check_rollup_1d").Inc()
			return a.store.RebuildHoursAndDays(ctx, checks, from, to)
		})
	}); err != nil {
		return err
	}
	c.spans = ingest.Spans{}
	c.release()
	return nil
}

// rebuildRecent rebuilds the hours and days of the restore horizon's
// checks from their minutes: those a crash left waiting for their minute
// to close.
func (a *Aggregator) rebuildRecent(ctx context.Context) error {
	newest, err := a.store.NewestResult(ctx)
	if err != nil || newest.IsZero() {
		return err
	}
	from := newest.Add(-a.cfg.Alerting.RestoreHorizon)
	seen, err := a.store.Checks(ctx, from)
	if err != nil || len(seen) == 0 {
		return err
	}
	ids := make([]string, len(seen))
	for i, c := range seen {
		ids[i] = c.CheckID
	}
	a.metrics.statements.WithLabelValues("check_rollup_1h").Inc()
	a.metrics.statements.WithLabelValues("check_rollup_1d").Inc()
	return a.store.RebuildHoursAndDays(ctx, ids, from, newest)
}

// retry is retry.Do that tells the consumer's progress what the batch in
// hand is retrying, so a stall says why.
func (a *Aggregator) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	return retryTelling(ctx, a.log, what, a.progress.Retrying, fn)
}

// retryFlush is retry for the rollup flush, off the consuming path: the
// consumer's progress names it while the offsets it holds back wait.
func (a *Aggregator) retryFlush(ctx context.Context, what string, fn func(context.Context) error) error {
	return retryTelling(ctx, a.log, what, a.progress.RetryingFlush, fn)
}

func retryTelling(ctx context.Context, log *slog.Logger, what string, tell func(string, error), fn func(context.Context) error) error {
	return retry.Do(ctx, retry.Default, log, what, func(ctx context.Context) error {
		err := fn(ctx)
		if err != nil {
			tell(what, err)
		}
		return err
	})
}
