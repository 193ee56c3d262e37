// Package prober runs checks on their schedules and emits one CheckResult per
// run to the results topic. It never stores anything and never decides about
// alerts: it measures and reports.
package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/schemas/events"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/outbox"
	"github.com/picket-dev/picket/services/prober/schedule"
)

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

	// slots bounds the runs in flight (cfg.concurrency()).
	slots chan struct{}
	// runCtx carries the runs' attempts: it ends at shutdown plus
	// cfg.ShutdownGrace, cutting an attempt still in progress then.
	runCtx  context.Context
	cutRuns context.CancelFunc
	// lastOverload is when a run was last skipped for overload (Unix ns).
	lastOverload atomic.Int64
	skippedN     atomic.Int64
	// overloadLog lets one line about skipped runs through per period.
	overloadLog logEvery
	// producing is the batch send handed to Kafka and saw no answer for yet.
	producing *produce

	mu      sync.Mutex
	runners map[string]*runner
	// onRun, when set (benchmarks), sees every run's tick and start lag.
	onRun func(id string, tick time.Time, lag time.Duration)
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
	m := newMetrics(reg, cfg.Location)
	ob, err := outbox.Open(outbox.Config{
		Dir: cfg.Outbox.Dir, MemoryRecords: cfg.Outbox.MemoryRecords, MaxSpoolBytes: cfg.Outbox.MaxSpoolBytes,
		SegmentBytes: spoolSegmentBytes, Batch: 1000,
		OnError: func(err error) {
			m.spoolErrors.Inc()
			log.Error("outbox: the spool failed; retrying", "dir", cfg.Outbox.Dir, "err", err)
		},
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
		runners: map[string]*runner{}, watching: make(chan struct{}), slots: make(chan struct{}, cfg.concurrency()),
	}
	p.runCtx, p.cutRuns = context.WithCancel(context.Background())
	p.overloadLog.period = 10 * time.Second
	registerGauges(reg, p)
	return p, nil
}

// overloadWindow is how long /readyz reports an overload after the last run
// skipped for it.
const overloadWindow = time.Minute

// Ready reports whether Kafka answers, results go out, and runs start on
// time: a prober skipping runs for overload, or whose outbox has been failing
// to send, is not ready.
func (p *Prober) Ready(ctx context.Context) error {
	var errs []error
	if err := p.client.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	if since, err := p.outbox.Stalled(); !since.IsZero() && time.Since(since) > p.cfg.Outbox.SendTimeout {
		st := p.outbox.Stats()
		if err == nil {
			err = errors.New("no acknowledgement from Kafka yet for the batch being sent")
		}
		errs = append(errs, fmt.Errorf("outbox: results not sent for %s, more than outbox.send_timeout %s (%d queued): %w",
			time.Since(since).Round(time.Millisecond), p.cfg.Outbox.SendTimeout, st.Memory+st.Spooled, err))
	}
	if last := p.lastOverload.Load(); last != 0 && time.Since(time.Unix(0, last)) < overloadWindow {
		errs = append(errs, fmt.Errorf("overloaded: runs skipped, the last %s ago (max_concurrency %d, max_start_delay %s)",
			time.Since(time.Unix(0, last)).Round(time.Millisecond), cap(p.slots), p.cfg.MaxStartDelay))
	}
	return errors.Join(errs...)
}

// Run probes until ctx is done, then finishes the runs in progress and flushes
// their results to Kafka.
func (p *Prober) Run(ctx context.Context) error {
	defer p.client.Close()
	if err := retry.Do(ctx, retry.Default, p.log, "create topics", func(ctx context.Context) error {
		var uses []string // the checks topic must be compacted when checks are read from it
		if p.cfg.Source == "kafka" {
			uses = append(uses, p.cfg.Kafka.ChecksTopic)
		}
		return kafka.EnsureTopics(ctx, p.client, p.cfg.Kafka, uses...)
	}); err != nil {
		return errors.Join(err, p.outbox.Close())
	}
	p.log.Info("prober started", "location", p.cfg.Location, "checks", len(p.checks),
		"max_concurrency", cap(p.slots), "max_start_delay", p.cfg.MaxStartDelay)
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
	// Confirmation retries stop now (ctx is done); an attempt still running
	// after the grace is cut, and every run's result is still queued.
	cut := time.AfterFunc(p.cfg.ShutdownGrace, p.cutRuns)
	p.stopAll()
	<-schedDone
	cut.Stop()
	p.cutRuns()
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

// produce is a batch handed to Kafka and not acknowledged yet.
type produce struct {
	head *outbox.Record // identifies the batch: the outbox retries it as it is
	n    int
	done chan struct{} // closed once every record's promise ran
	mu   sync.Mutex
	err  error
}

// send hands a batch from the outbox to Kafka and waits, at most
// outbox.send_timeout, for Kafka to take it. The idempotent producer cannot
// give up a batch whose request may have reached the broker, so a batch not
// acknowledged in time stays with the client and a retry of the same batch
// waits for that produce again instead of producing copies; waiting ends with
// ctx, which keeps shutdown bounded while Kafka is away. Only sent from the
// outbox's one sender at a time.
func (p *Prober) send(ctx context.Context, recs []outbox.Record) error {
	pr := p.producing
	if pr == nil || pr.head != &recs[0] || pr.n != len(recs) {
		pr = &produce{head: &recs[0], n: len(recs), done: make(chan struct{})}
		headers := kafka.Headers(events.CheckResultV1)
		var wg sync.WaitGroup
		wg.Add(len(recs))
		for _, r := range recs {
			kr := &kgo.Record{Key: r.Key, Value: r.Value, Headers: headers, Timestamp: time.UnixMilli(r.TimestampMS)}
			p.client.Produce(context.Background(), kr, func(_ *kgo.Record, err error) {
				if err != nil {
					pr.mu.Lock()
					if pr.err == nil {
						pr.err = fmt.Errorf("produce: %w", err)
					}
					pr.mu.Unlock()
				}
				wg.Done()
			})
		}
		go func() { wg.Wait(); close(pr.done) }()
		p.producing = pr
	}
	wait, cancel := context.WithTimeout(ctx, p.cfg.Outbox.SendTimeout)
	defer cancel()
	select {
	case <-pr.done:
		p.producing = nil
		pr.mu.Lock()
		err := pr.err
		pr.mu.Unlock()
		if err != nil { // Kafka refused: the next attempt produces the batch again
			p.metrics.produceError.Inc()
			p.log.Warn("results not produced yet; they stay queued", "records", len(recs), "err", err)
			return err
		}
		p.metrics.produced.Add(float64(len(recs)))
		return nil
	case <-wait.Done():
		p.metrics.produceError.Inc()
		p.log.Warn("results not acknowledged by Kafka within outbox.send_timeout; they stay queued", "records", len(recs),
			"send_timeout", p.cfg.Outbox.SendTimeout, "err", context.Cause(wait))
		return fmt.Errorf("produce: not acknowledged within outbox.send_timeout %s: %w", p.cfg.Outbox.SendTimeout, context.Cause(wait))
	}
}

// logEvery lets one log line through per period.
type logEvery struct {
	period time.Duration
	last   atomic.Int64
}

// Allow reports whether a line may be logged now.
func (l *logEvery) Allow() bool {
	now, last := time.Now().UnixNano(), l.last.Load()
	return now-last >= int64(l.period) && l.last.CompareAndSwap(last, now)
}
