package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/notifier"
)

// An aggregator restarted with a new rule re-evaluates 10 minutes of
// history: the transitions the new rule finds in it are recorded, flagged
// historical with when they were detected, and the webhook gets none of
// them; a transition happening now is still delivered.
func TestRestartWithChangedRulePagesNothingOld(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	st := embeddedtest.Store(t)
	cfg := aggregator.DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 1
	cfg.Alerting.Lateness = 2 * time.Second
	cfg.Alerting.StaleAfter = 1000 // the check stops at the test's end: not the subject here
	cfg.Alerting.Rules = map[string]alert.Rule{"availability": {Kind: alert.KindAvailability, Threshold: 0.8, Window: 10 * time.Second}}

	rc := &recorder{}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	ncfg := notifier.DefaultConfig()
	ncfg.Kafka = cfg.Kafka
	ncfg.Webhooks = []notifier.WebhookConfig{{Name: "recorder", URL: hook.URL, Timeout: 5 * time.Second}}
	ncfg.Safety.Allow = []string{"127.0.0.1"} // the test receiver; loopback is refused by default
	n, err := notifier.New(ncfg, testLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, n.Run)

	// 10 minutes of history up to now, all fine for the availability rule
	// (two failures in a row at -5 min: 8 of 10 is not below 80 %).
	base := time.Now().Truncate(time.Second).Add(-10 * time.Minute)
	failing := map[int]bool{300: true, 301: true}
	var history []*kgo.Record
	for i := range 600 {
		history = append(history, resultRecord(t, cfg.Kafka.ResultsTopic, base.Add(time.Duration(i)*time.Second), !failing[i]))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), history...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	first, err := aggregator.New(cfg, st, testLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := run(t, first.Run)
	eventually(t, 30*time.Second, "the history stored", func() (bool, string) {
		s, err := st.Stats(context.Background(), store.StatsQuery{CheckID: "api", From: base, To: base.Add(time.Hour)})
		return err == nil && s.Samples == 600, fmt.Sprint(s.Samples, err)
	})
	stopFirst()

	// Restart with a stricter rule: two failures in a row.
	cfg.Alerting.Rules["two-strikes"] = alert.Rule{Kind: alert.KindConsecutive, Failures: 2, Successes: 2}
	second, err := aggregator.New(cfg, st, testLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, second.Run)
	alerts := func() []store.AlertRow {
		a, err := st.Alerts(context.Background(), store.AlertQuery{From: base, To: base.Add(time.Hour), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	eventually(t, 30*time.Second, "the new rule's transitions in the history", func() (bool, string) {
		return len(alerts()) == 2, fmt.Sprint(alerts())
	})
	for _, a := range alerts() {
		if a.Rule != "two-strikes" || !a.Historical || a.DetectedAt.Sub(a.At) < 4*time.Minute {
			t.Errorf("old transition %s %s at %s detected %s: historical=%v, want true", a.Rule, a.State, a.At, a.DetectedAt, a.Historical)
		}
	}

	// Now the check fails three times in a row: both rules open, at once.
	var fresh []*kgo.Record
	i := 600
	for ; !base.Add(time.Duration(i) * time.Second).After(time.Now()); i++ {
		fresh = append(fresh, resultRecord(t, cfg.Kafka.ResultsTopic, base.Add(time.Duration(i)*time.Second), true))
	}
	for k := range 3 {
		fresh = append(fresh, resultRecord(t, cfg.Kafka.ResultsTopic, base.Add(time.Duration(i+k)*time.Second), false))
	}
	if err := cl.ProduceSync(context.Background(), fresh...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "two pages", func() (bool, string) {
		return len(rc.payloads()) >= 2, fmt.Sprint(rc.payloads())
	})
	got := map[string]string{}
	for _, p := range rc.payloads() {
		got[p.Rule] += p.State
	}
	if len(rc.payloads()) != 2 || got["availability"] != "down" || got["two-strikes"] != "down" {
		t.Fatalf("webhook got %+v, want only the two fresh downs", rc.payloads())
	}
	// Recorded after the event is produced: the page may come first.
	eventually(t, 30*time.Second, "the two fresh transitions recorded, not historical", func() (bool, string) {
		fresh := 0
		for _, a := range alerts() {
			if !a.Historical {
				fresh++
			}
		}
		return fresh == 2 && len(alerts()) == 4, fmt.Sprint(alerts())
	})
}

// run runs f until the test ends or the returned stop is called.
func run(t *testing.T, f func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func resultRecord(t *testing.T, topic string, tick time.Time, ok bool) *kgo.Record {
	t.Helper()
	ev := &eventsv1.CheckResult{
		ResultId: events.ResultID("api", "eu", tick), CheckId: "api", CheckName: "API", CheckType: "http", Location: "eu",
		ScheduledAt: timestamppb.New(tick), StartedAt: timestamppb.New(tick), Duration: durationpb.New(20 * time.Millisecond),
		HttpStatus: 200, Success: ok, Interval: durationpb.New(time.Second),
	}
	if !ok {
		ev.HttpStatus, ev.FailureClass = 503, eventsv1.FailureClass_FAILURE_CLASS_STATUS
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte("api"), Value: b, Headers: kafka.Headers(events.CheckResultV1)}
}
