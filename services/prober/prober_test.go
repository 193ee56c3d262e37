package prober

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// The prober emits one decodable, keyed, schema-headed result per run to a
// real Kafka-protocol broker, and on shutdown flushes the runs in progress.
func TestProberEmitsOneResultPerRun(t *testing.T) {
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer target.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Outbox.Dir = t.TempDir()
	cfg.Location = "test-loc"
	c := check.Check{ID: "api", Name: "API", Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: target.URL, ExpectedStatus: []int{200}}}
	p, err := NewWithChecks(cfg, []check.Check{c}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	poll.True(t, 10*time.Second, "ten runs", func() bool { return served.Load() >= 10 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("prober run: %v", err)
	}
	runs := served.Load()
	if n := testutil.CollectAndCount(p.metrics.phases); n < 2 {
		t.Fatalf("%d phase series, want connect and processing at least", n)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(cfg.Kafka.ResultsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Every tick emits one result. A run the prober could not do on time
	// (a loaded machine) or that came due during shutdown is emitted as
	// skipped for overload, without reaching the target; on a loaded machine
	// a run may also time out (15 ms), before or after the target counted
	// it. So the target served every result but the timeouts, and at most
	// all of them.
	var got, skipped, timeouts []*eventsv1.CheckResult
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	for int64(len(got)+len(timeouts)) < runs {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("got %d results for %d runs", len(got), runs)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var ev eventsv1.CheckResult
			if err := events.Decode(events.CheckResultV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
				t.Fatalf("record at offset %d: %v", r.Offset, err)
			}
			if string(r.Key) != "api" {
				t.Fatalf("key %q, want the check id", r.Key)
			}
			switch ev.GetFailureClass() {
			case eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD:
				skipped = append(skipped, &ev)
			case eventsv1.FailureClass_FAILURE_CLASS_TIMEOUT:
				timeouts = append(timeouts, &ev)
			default:
				got = append(got, &ev)
			}
		})
	}
	// What is still on its way is read too: none may be beyond the runs.
	rctx, rcancel := context.WithTimeout(pctx, 200*time.Millisecond)
	fs := cl.PollFetches(rctx)
	rcancel()
	fs.EachRecord(func(r *kgo.Record) {
		var ev eventsv1.CheckResult
		if events.Decode(events.CheckResultV1, kafka.RecordHeaders(r), r.Value, &ev) == nil &&
			ev.GetFailureClass() != eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD && ev.GetFailureClass() != eventsv1.FailureClass_FAILURE_CLASS_TIMEOUT {
			got = append(got, &ev)
		}
	})
	if int64(len(got)) > runs || int64(len(got)+len(timeouts)) < runs {
		t.Fatalf("%d results and %d timeouts for %d runs the target served", len(got), len(timeouts), runs)
	}
	for _, ev := range skipped {
		if ev.GetSuccess() || ev.GetHttpStatus() != 0 || ev.GetAttempts() != 0 {
			t.Fatalf("a skipped run reports the target: %+v", ev)
		}
	}
	ok := 0
	for i, ev := range got {
		tick := ev.GetScheduledAt().AsTime()
		if ev.GetResultId() != events.ResultID("api", "test-loc", tick) || ev.GetLocation() != "test-loc" || ev.GetCheckName() != "API" {
			t.Fatalf("result %d: %+v", i, ev)
		}
		if ev.GetAttempts() != 1 {
			t.Fatalf("result %d: %d attempts for a check without retries", i, ev.GetAttempts())
		}
		if ev.GetPhases().GetConnect().AsDuration() <= 0 || ev.GetPhases().GetServerProcessing().AsDuration() <= 0 {
			t.Fatalf("result %d has no phases: %v", i, ev.GetPhases())
		}
		if i > 0 && !tick.After(got[i-1].GetScheduledAt().AsTime()) {
			t.Fatalf("result %d not after the previous tick", i)
		}
		if ev.GetSuccess() {
			ok++
		} else if ev.GetHttpStatus() != 503 || ev.GetFailureClass() != eventsv1.FailureClass_FAILURE_CLASS_STATUS {
			t.Fatalf("failed result %d: %+v", i, ev)
		}
	}
	if ok == 0 || ok == len(got) {
		t.Fatalf("%d of %d succeeded; the target alternates", ok, len(got))
	}
}
