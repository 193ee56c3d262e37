package prober

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"google.golang.org/protobuf/proto"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/outbox"
	"github.com/picket-dev/picket/services/prober/schedule"
)

// serialTarget is healthy but serves one request at a time, each taking
// work: it stands for the one CPU an overloaded prober shares between its
// runs. Runs that overlap on it queue, and past their timeout they would be
// reported as the target's failures although it never failed.
type serialTarget struct {
	mu     sync.Mutex
	work   time.Duration
	served atomic.Int64
}

func (s *serialTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	<-time.After(s.work) // the target's own latency, not a wait for a result
	s.served.Add(1)
}

func consumeResults(t *testing.T, brokers []string, topic string, n int) []*eventsv1.CheckResult {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*eventsv1.CheckResult
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var ev eventsv1.CheckResult
			if err := events.Decode(events.CheckResultV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
				t.Fatalf("offset %d: %v", r.Offset, err)
			}
			got = append(got, &ev)
		})
	}
	if len(got) != n {
		t.Fatalf("%d results in Kafka, want %d", len(got), n)
	}
	return got
}

// Offered three times the runs it can do, the prober reports the runs it
// could not start on time as skipped for overload (their own failure class,
// counted, and shown in /readyz), and no result says the healthy target
// failed.
func TestOverloadIsReportedAsSkippedNeverAsTheTargetFailing(t *testing.T) {
	target := &serialTarget{work: 50 * time.Millisecond} // at most 20 runs/s
	srv := httptest.NewServer(target)
	defer srv.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Outbox.Dir = t.TempDir()
	cfg.MaxConcurrency = 1 // one run at a time: the prober can run 20/s
	cfg.MaxStartDelay = 100 * time.Millisecond
	var checks []check.Check
	for i := range 30 { // 30 checks every 500 ms: 60 runs/s offered
		checks = append(checks, check.Check{ID: fmt.Sprintf("c%02d", i), Interval: 500 * time.Millisecond, Timeout: 400 * time.Millisecond,
			HTTP: &check.HTTP{Method: "GET", URL: srv.URL, ExpectedStatus: []int{200}}})
	}
	p, err := NewWithChecks(cfg, checks, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var emitted atomic.Int64
	p.onRun = func(string, time.Time, time.Duration) { emitted.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var readyErr error
	poll.Until(t, 30*time.Second, "90 runs, some skipped for overload, and /readyz saying so", func() (bool, string) {
		if readyErr == nil {
			readyErr = p.Ready(context.Background())
		}
		skipped := testutil.ToFloat64(p.metrics.skipped.WithLabelValues(skipBusy)) + testutil.ToFloat64(p.metrics.skipped.WithLabelValues(skipLate))
		return emitted.Load() >= 90 && skipped > 0 && readyErr != nil && strings.Contains(readyErr.Error(), "overloaded"),
			fmt.Sprintf("%d runs, %v skipped, ready: %v", emitted.Load(), skipped, readyErr)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := consumeResults(t, cluster.ListenAddrs(), cfg.Kafka.ResultsTopic, int(emitted.Load()))
	var ok, overload int
	for _, ev := range got {
		switch {
		case ev.GetSuccess():
			ok++
		case ev.GetFailureClass() == eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD && strings.Contains(ev.GetFailureMessage(), "overloaded"):
			overload++
		case ev.GetFailureClass() == eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD && strings.Contains(ev.GetFailureMessage(), "shutting down"):
			// a tick waiting for a slot when the prober stopped
		default:
			t.Fatalf("the healthy target is reported failing: %s %s: %s", ev.GetCheckId(), ev.GetFailureClass(), ev.GetFailureMessage())
		}
	}
	if ok == 0 || overload == 0 || int64(ok) > target.served.Load() {
		t.Fatalf("%d successes (target served %d), %d skipped for overload, of %d", ok, target.served.Load(), overload, len(got))
	}
	t.Logf("%d results: %d successes, %d skipped for overload", len(got), ok, overload)
}

// manualClock is a schedule.Clock the test moves: every timer fires when
// the test sends the time on fire.
type manualClock struct {
	mu   sync.Mutex
	now  time.Time
	fire chan time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(time.Duration) <-chan time.Time { return c.fire }

// set moves the clock to t and fires the scheduler's timer.
func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
	c.fire <- t
}

// A run the scheduler gets to later than max_start_delay after its tick is
// not run: its result says so, with failure class OVERLOAD.
func TestLateRunIsSkipped(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Outbox.Dir = t.TempDir()
	cfg.MaxStartDelay = 100 * time.Millisecond
	c := check.Check{ID: "api", Interval: time.Second, Timeout: 500 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: srv.URL, ExpectedStatus: []int{200}}}
	p, err := NewWithChecks(cfg, []check.Check{c}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := &manualClock{now: t0, fire: make(chan time.Time)}
	p.sched = schedule.NewScheduler(clk)
	ctx, cancel := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); p.sched.Run(ctx) }()
	p.apply(ctx, p.checks)
	tick := schedule.Next(t0, c.Interval, schedule.Offset(c.ID, c.Interval))
	clk.set(tick.Add(150 * time.Millisecond)) // the scheduler gets to the tick 150 ms late
	poll.True(t, 10*time.Second, "the late tick's result", func() bool { return p.outbox.Stats().Memory == 1 })
	clk.set(tick.Add(c.Interval + 50*time.Millisecond)) // the next one 50 ms late: in time
	poll.True(t, 10*time.Second, "the next tick's result", func() bool { return p.outbox.Stats().Memory == 2 })
	cancel()
	p.stopAll()
	<-schedDone
	var got []*eventsv1.CheckResult
	if err := p.outbox.Flush(context.Background(), func(_ context.Context, recs []outbox.Record) error {
		for _, r := range recs {
			var ev eventsv1.CheckResult
			if err := proto.Unmarshal(r.Value, &ev); err != nil {
				return err
			}
			got = append(got, &ev)
		}
		return nil
	}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || served.Load() != 1 {
		t.Fatalf("%d results, %d requests", len(got), served.Load())
	}
	late := got[0]
	if late.GetSuccess() || late.GetFailureClass() != eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD || late.GetAttempts() != 0 ||
		!late.GetScheduledAt().AsTime().Equal(tick) ||
		late.GetFailureMessage() != "not run: the prober is overloaded; it got to this run 150ms after its tick (max_start_delay 100ms)" {
		t.Fatalf("late run: %v", late)
	}
	if !got[1].GetSuccess() {
		t.Fatalf("run on time: %v", got[1])
	}
	if n := testutil.ToFloat64(p.metrics.skipped.WithLabelValues(skipLate)); n != 1 {
		t.Fatalf("skipped{late} = %v", n)
	}
	if err := p.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "overloaded: runs skipped") {
		t.Fatalf("ready: %v", err)
	}
}
