package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// receiver answers each request with the next scripted status (200 once the
// script runs out), keeping what it got.
type receiver struct {
	mu     sync.Mutex
	script map[string][]int // by event id
	calls  map[string]int
	got    []deliver.Payload
	sigOK  []bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p deliver.Payload
	json.Unmarshal(body, &p)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls[p.EventID]++
	if s := rc.script[p.EventID]; len(s) > 0 {
		rc.script[p.EventID] = s[1:]
		if s[0] != http.StatusOK {
			w.WriteHeader(s[0])
			return
		}
	}
	rc.got = append(rc.got, p)
	rc.sigOK = append(rc.sigOK, r.Header.Get(deliver.HeaderSignature) == deliver.Sign([]byte("k"), r.Header.Get(deliver.HeaderTimestamp), body))
}

func alertRecord(t *testing.T, topic, id string, state eventsv1.AlertState, at time.Time) *kgo.Record {
	b, err := proto.Marshal(&eventsv1.AlertStateChanged{EventId: id, CheckId: "api", CheckName: "API", Rule: "availability",
		State: state, At: timestamppb.New(at), Message: "msg " + id})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte("api/availability"), Value: b, Headers: kafka.Headers(events.AlertStateChangedV1)}
}

// silenced marks an alert record as covered by a maintenance window.
func silenced(t *testing.T, r *kgo.Record) *kgo.Record {
	var ev eventsv1.AlertStateChanged
	if err := proto.Unmarshal(r.Value, &ev); err != nil {
		t.Fatal(err)
	}
	ev.Silenced, ev.Silence = true, "db-maintenance"
	b, err := proto.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	r.Value = b
	return r
}

// Every event reaches the webhook once, signed and in order: transient
// failures are retried, a rejection is not retried and does not block the
// events behind it, a duplicate event is not sent again, and a silenced one
// (inside a maintenance window) is not sent at all. The offsets are
// committed once all of it is done.
func TestNotifierDeliversEachEventOnce(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	rc := &receiver{script: map[string][]int{"e2": {503, 502}, "e3": {400}}, calls: map[string]int{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Webhooks = []WebhookConfig{{Name: "ops", URL: hook.URL, Secret: "k", Timeout: time.Second}}
	cfg.Safety.Allow = []string{"127.0.0.1"} // the test receiver; loopback is refused by default
	n, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	topic := cfg.Kafka.AlertsTopic
	recs := []*kgo.Record{
		alertRecord(t, topic, "e1", eventsv1.AlertState_ALERT_STATE_DOWN, at),
		alertRecord(t, topic, "e2", eventsv1.AlertState_ALERT_STATE_UP, at.Add(time.Minute)),
		alertRecord(t, topic, "e3", eventsv1.AlertState_ALERT_STATE_DOWN, at.Add(2*time.Minute)),
		alertRecord(t, topic, "e1", eventsv1.AlertState_ALERT_STATE_DOWN, at), // redelivered by an aggregator restart
		alertRecord(t, topic, "e4", eventsv1.AlertState_ALERT_STATE_UP, at.Add(3*time.Minute)),
		silenced(t, alertRecord(t, topic, "e5", eventsv1.AlertState_ALERT_STATE_DOWN, at.Add(4*time.Minute))),
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	poll.Until(t, 20*time.Second, "every offset committed", func() (bool, string) {
		o, err := adm.FetchOffsets(context.Background(), cfg.Group)
		var committed int64
		if err == nil {
			o.Each(func(r kadm.OffsetResponse) { committed += r.At })
		}
		return committed == int64(len(recs)), fmt.Sprintf("%d of %d", committed, len(recs))
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var ids []string
	for i, p := range rc.got {
		ids = append(ids, p.EventID)
		if !rc.sigOK[i] {
			t.Errorf("delivery %d has a bad signature", i)
		}
	}
	if fmt.Sprint(ids) != "[e1 e2 e4]" {
		t.Fatalf("delivered %v, want [e1 e2 e4] (e3 rejected, e5 silenced)", ids)
	}
	if rc.calls["e1"] != 1 || rc.calls["e2"] != 3 || rc.calls["e3"] != 1 || rc.calls["e4"] != 1 {
		t.Fatalf("calls %v: want e1 once, e2 three times (two 5xx), e3 once (400 is final), e4 once", rc.calls)
	}
}

// Only transitions that open or close an alert now are paged: a historical
// one (found late by the aggregator) is not, nor a check going stale or
// reporting again while nothing was open; a stale open alert is delivered as
// its resolution. Each skip is counted under its reason.
func TestNotifierSkipsHistoricalAndNonAlertingTransitions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	rc := &receiver{script: map[string][]int{}, calls: map[string]int{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Webhooks = []WebhookConfig{{Name: "ops", URL: hook.URL, Secret: "k", Timeout: time.Second}}
	cfg.Safety.Allow = []string{"127.0.0.1"} // the test receiver; loopback is refused by default
	reg := prometheus.NewRegistry()
	n, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	topic := cfg.Kafka.AlertsTopic
	const (
		up    = eventsv1.AlertState_ALERT_STATE_UP
		down  = eventsv1.AlertState_ALERT_STATE_DOWN
		stale = eventsv1.AlertState_ALERT_STATE_STALE
	)
	event := func(id string, from, to eventsv1.AlertState, historical bool, i int) *kgo.Record {
		r := alertRecord(t, topic, id, to, at.Add(time.Duration(i)*time.Minute))
		var ev eventsv1.AlertStateChanged
		if err := proto.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		ev.PreviousState, ev.Historical = from, historical
		if r.Value, err = proto.Marshal(&ev); err != nil {
			t.Fatal(err)
		}
		return r
	}
	recs := []*kgo.Record{
		event("old-down", up, down, true, 0),      // found by a restore: not paged
		event("old-up", down, up, true, 1),        // its recovery, as old: not paged
		event("down", up, down, false, 2),         // fresh: paged
		event("resolved", down, stale, false, 3),  // the check stopped reporting: the open alert resolves
		event("back", stale, up, false, 4),        // reporting again, fine: nothing to page
		event("quiet", up, stale, false, 5),       // an up check going stale: nothing was open
		event("back-down", stale, down, false, 6), // reporting again, failing: paged
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	poll.Until(t, 20*time.Second, "every offset committed", func() (bool, string) {
		o, err := adm.FetchOffsets(context.Background(), cfg.Group)
		var committed int64
		if err == nil {
			o.Each(func(r kadm.OffsetResponse) { committed += r.At })
		}
		return committed == int64(len(recs)), fmt.Sprintf("%d of %d", committed, len(recs))
	})
	rc.mu.Lock()
	var got []string
	for _, p := range rc.got {
		got = append(got, p.EventID+":"+p.PreviousState+"->"+p.State)
	}
	rc.mu.Unlock()
	if want := "[down:up->down resolved:down->stale back-down:stale->down]"; fmt.Sprint(got) != want {
		t.Fatalf("delivered %v, want %s", got, want)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "picket_notifier_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					counts[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if counts["historical"] != 2 || counts["not_alerting"] != 2 || counts["delivered"] != 3 {
		t.Fatalf("deliveries by outcome %v, want historical 2, not_alerting 2, delivered 3", counts)
	}
}
