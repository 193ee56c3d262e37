package prober

import (
	"context"
	"io"
	"log/slog"
	"net"
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

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// Probing goes on while the broker is down; every result reaches Kafka once
// it is back.
func TestEveryResultSurvivesABrokerOutage(t *testing.T) {
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer target.Close()

	port := holdPort(t) // the restarted broker gets the same address: the test never lets go of it
	dataDir := t.TempDir()
	startBroker := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(port.listen), kfake.DataDir(dataDir))
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
	waitFor(t, "/readyz to say results are not sent", func() bool {
		err := p.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "outbox: results not sent")
	})
	cluster = startBroker() // and comes back, on the same address, with its data
	defer func() { cluster.Close() }()
	waitFor(t, "the spool to drain and /readyz to be ready", func() bool {
		st := p.outbox.Stats()
		return st.Spooled == 0 && st.Memory == 0 && served.Load() >= before+60 && p.Ready(context.Background()) == nil
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

// heldPort keeps one listening port for the whole test and hands its
// connections to the broker that currently owns it; with none, a connection
// is closed at once, as a dead broker's would be. A restarted broker gets
// the same address without the port ever being free for someone else.
type heldPort struct {
	ln    net.Listener
	mu    sync.Mutex
	owner *handedListener
}

func holdPort(t *testing.T) *heldPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &heldPort{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			o := h.owner
			h.mu.Unlock()
			if o == nil || !o.deliver(c) {
				c.Close()
			}
		}
	}()
	return h
}

// listen is kfake's ListenFn: the broker listens on the held port.
func (h *heldPort) listen(string, string) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.owner = &handedListener{h: h, conns: make(chan net.Conn), done: make(chan struct{})}
	return h.owner, nil
}

// handedListener is the held port as one broker sees it.
type handedListener struct {
	h     *heldPort
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	open  []net.Conn
}

func (l *handedListener) deliver(c net.Conn) bool {
	l.mu.Lock()
	l.open = append(l.open, c)
	l.mu.Unlock()
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops handing connections to this broker and closes those it had.
func (l *handedListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.h.mu.Lock()
		if l.h.owner == l {
			l.h.owner = nil
		}
		l.h.mu.Unlock()
		l.closeConns()
	})
	return nil
}

func (l *handedListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.open {
		c.Close()
	}
	l.open = nil
}

func (l *handedListener) Addr() net.Addr { return l.h.ln.Addr() }
