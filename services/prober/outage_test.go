package prober

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Probing goes on while the broker is down; every result reaches Kafka once
// it is back.
func TestEveryResultSurvivesABrokerOutage(t *testing.T) {
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer target.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dataDir := t.TempDir()
	startBroker := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dataDir))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cluster := startBroker()

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Outbox.Dir = t.TempDir()
	cfg.Outbox.MemoryRecords = 5 // spill to disk early
	cfg.Outbox.SendTimeout = 200 * time.Millisecond
	c := check.Check{ID: "api", Name: "API", Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: target.URL, ExpectedStatus: []int{200}}}
	p, err := NewWithChecks(cfg, []check.Check{c}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var emitted atomic.Int64 // every run emits exactly one result
	p.onRun = func(string, time.Time, time.Duration) { emitted.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	waitFor(t, "results flowing", func() bool { return testutil.ToFloat64(p.metrics.produced) >= 5 })
	cluster.Close() // the broker goes away
	before := served.Load()
	waitFor(t, "40 runs during the outage, spooled", func() bool {
		return served.Load() >= before+40 && p.outbox.Stats().Spooled > 0
	})
	cluster = startBroker() // and comes back, on the same address, with its data
	defer func() { cluster.Close() }()
	waitFor(t, "the spool to drain", func() bool {
		st := p.outbox.Stats()
		return st.Spooled == 0 && st.Memory == 0 && served.Load() >= before+60
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runs := emitted.Load()
	if runs < served.Load() {
		t.Fatalf("%d runs counted, but the target served %d", runs, served.Load())
	}
	if d := testutil.ToFloat64(p.metrics.dropped); d != 0 {
		t.Fatalf("%v results dropped", d)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(cfg.Kafka.ResultsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ids := map[string]bool{}
	var ticks []time.Time
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	for int64(len(ids)) < runs && pctx.Err() == nil {
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			var ev eventsv1.CheckResult
			if err := events.Decode(events.CheckResultV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
				t.Fatalf("offset %d: %v", r.Offset, err)
			}
			if !r.Timestamp.Equal(ev.GetScheduledAt().AsTime().Truncate(time.Millisecond)) {
				t.Fatalf("record timestamp %v, tick %v", r.Timestamp, ev.GetScheduledAt().AsTime())
			}
			if !ids[ev.GetResultId()] {
				ids[ev.GetResultId()] = true
				ticks = append(ticks, ev.GetScheduledAt().AsTime())
			}
		})
	}
	if int64(len(ids)) != runs {
		t.Fatalf("%d distinct results in Kafka for %d runs", len(ids), runs)
	}
	for i := 1; i < len(ticks); i++ {
		if !ticks[i].After(ticks[i-1]) {
			t.Fatalf("result %d (tick %v) arrived out of order after %v", i, ticks[i], ticks[i-1])
		}
	}
	t.Logf("%d runs, all in Kafka in order; %d of them after the broker went down", runs, runs-before)
}
