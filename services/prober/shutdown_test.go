package prober

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picket-dev/picket/platform/poll"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/outbox"
	"github.com/picket-dev/picket/services/prober/schedule"
)

// soonClock is the wall clock shifted so that the first tick of (id,
// interval) comes in d: a test of a check with a long interval need not wait
// for its phase.
type soonClock struct{ shift time.Duration }

func newSoonClock(id string, interval, d time.Duration) soonClock {
	now := time.Now()
	next := schedule.Next(now, interval, schedule.Offset(id, interval))
	return soonClock{shift: next.Add(-d).Sub(now)}
}

func (c soonClock) Now() time.Time                         { return time.Now().Add(c.shift) }
func (c soonClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// startProber runs one check on a fresh kfake cluster with the first tick
// imminent; stop cancels Run and returns how long it took to return.
func startProber(t *testing.T, cfg Config, c check.Check) (p *Prober, cluster *kfake.Cluster, stop func() time.Duration) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Outbox.Dir = t.TempDir()
	p, err = NewWithChecks(cfg, []check.Check{c}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p.sched = schedule.NewScheduler(newSoonClock(c.ID, c.Interval, 50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, cluster, func() time.Duration {
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of shutdown")
		}
		return time.Since(start)
	}
}

// Shutdown does not wait out a confirmation retry schedule: the retries stop,
// Run returns at once, and the run's result is in Kafka, reported as not
// confirmed (never as the target's confirmed failure).
func TestShutdownStopsConfirmationRetries(t *testing.T) {
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer target.Close()
	cfg := DefaultConfig()
	cfg.ShutdownGrace = 5 * time.Second
	c := check.Check{ID: "api", Interval: 10 * time.Minute, Timeout: time.Second, Retries: 3, RetryDelay: time.Minute,
		HTTP: &check.HTTP{Method: "GET", URL: target.URL, ExpectedStatus: []int{200}}}
	p, cluster, stop := startProber(t, cfg, c)
	poll.True(t, 10*time.Second, "the first attempt", func() bool { return served.Load() == 1 })
	if took := stop(); took > 3*time.Second {
		t.Fatalf("shutdown took %s with a 1m retry delay pending", took)
	}
	got := consumeResults(t, cluster.ListenAddrs(), cfg.Kafka.ResultsTopic, 1)[0]
	if got.GetSuccess() || got.GetFailureClass() != eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD || got.GetAttempts() != 1 ||
		!strings.Contains(got.GetFailureMessage(), "not confirmed") || !strings.Contains(got.GetFailureMessage(), "status 500") {
		t.Fatalf("result %s attempts %d: %s", got.GetFailureClass(), got.GetAttempts(), got.GetFailureMessage())
	}
	if n := testutil.ToFloat64(p.metrics.skipped.WithLabelValues(skipShutdown)); n != 1 {
		t.Fatalf("skipped{shutdown} = %v", n)
	}
}

// A run still in progress at shutdown gets shutdown_grace to finish; then it
// is cut, Run returns, and its result is kept (as not finished, not as the
// target's failure).
func TestShutdownCutsARunAfterTheGrace(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select { // a target that never answers within the run
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer target.Close()
	cfg := DefaultConfig()
	cfg.ShutdownGrace = 300 * time.Millisecond
	c := check.Check{ID: "slow", Interval: time.Minute, Timeout: 50 * time.Second,
		HTTP: &check.HTTP{Method: "GET", URL: target.URL, ExpectedStatus: []int{200}}}
	_, cluster, stop := startProber(t, cfg, c)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the run never reached the target")
	}
	took := stop()
	if took < cfg.ShutdownGrace || took > cfg.ShutdownGrace+3*time.Second {
		t.Fatalf("shutdown took %s, want the grace %s and little more", took, cfg.ShutdownGrace)
	}
	got := consumeResults(t, cluster.ListenAddrs(), cfg.Kafka.ResultsTopic, 1)[0]
	if got.GetSuccess() || got.GetFailureClass() != eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD ||
		!strings.Contains(got.GetFailureMessage(), "shutdown_grace 300ms") {
		t.Fatalf("result %s: %s", got.GetFailureClass(), got.GetFailureMessage())
	}
}

// With Kafka gone while a batch is being produced (the idempotent producer
// then cannot give it up), shutdown still returns within flush_timeout and
// a little more, and every result Kafka did not acknowledge is in the spool
// for the next start.
func TestShutdownWithKafkaDownIsBoundedAndSpools(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Outbox.Dir = t.TempDir()
	cfg.Outbox.MemoryRecords = 5
	cfg.Outbox.SendTimeout = 200 * time.Millisecond
	cfg.FlushTimeout = time.Second
	c := check.Check{ID: "api", Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: target.URL, ExpectedStatus: []int{200}}}
	p, err := NewWithChecks(cfg, []check.Check{c}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var emitted atomic.Int64
	p.onRun = func(string, time.Time, time.Duration) { emitted.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "results flowing", func() bool { return testutil.ToFloat64(p.metrics.produced) >= 5 })
	cluster.Close()
	waitFor(t, "results spooled", func() bool { return p.outbox.Stats().Spooled > 5 })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return with Kafka down")
	}
	if took := time.Since(start); took > cfg.FlushTimeout+3*time.Second {
		t.Fatalf("shutdown took %s with flush_timeout %s", took, cfg.FlushTimeout)
	}
	ob, err := outbox.Open(outbox.Config{Dir: cfg.Outbox.Dir, MemoryRecords: 1, MaxSpoolBytes: cfg.Outbox.MaxSpoolBytes,
		SegmentBytes: spoolSegmentBytes, Batch: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	produced := int64(testutil.ToFloat64(p.metrics.produced))
	// (More is possible: the part of the oldest segment sent before the outage is sent again.)
	if spooled := int64(ob.Stats().Spooled); spooled < emitted.Load()-produced {
		t.Fatalf("%d results spooled; %d runs, %d acknowledged by Kafka", spooled, emitted.Load(), produced)
	}
}
