package aggregator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	pollpkg "github.com/picket-dev/picket/platform/poll"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
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
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

var t0 = embeddedtest.Day().Add(10 * time.Hour)

// at formats t0 + d as alert messages do.
func at(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }

type env struct {
	cluster *kfake.Cluster
	cfg     Config
	store   *store.Store
	client  *kgo.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	// 80 % over 10 s at a 1 s interval: 5 results are enough. A location's
	// first result waits 2 s of event time for others of its tick.
	cfg.Alerting.Rules = map[string]alert.Rule{"availability": {Kind: alert.KindAvailability, Threshold: 0.8, Window: 10 * time.Second}}
	cfg.Alerting.Lateness = 2 * time.Second
	// Tests pause between phases: no check goes stale unless a test says so.
	cfg.Alerting.StaleAfter = 1000
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	return &env{cluster: cluster, cfg: cfg, store: embeddedtest.Store(t), client: cl}
}

func result(check string, i int, ok bool) *eventsv1.CheckResult {
	tick := t0.Add(time.Duration(i) * time.Second)
	status := uint32(200)
	class := eventsv1.FailureClass_FAILURE_CLASS_UNSPECIFIED
	if !ok {
		status, class = 503, eventsv1.FailureClass_FAILURE_CLASS_STATUS
	}
	return &eventsv1.CheckResult{
		ResultId: events.ResultID(check, "loc", tick), CheckId: check, CheckName: "Check " + check, CheckType: "http",
		Location: "loc", ScheduledAt: timestamppb.New(tick), StartedAt: timestamppb.New(tick.Add(time.Millisecond)),
		Duration: durationpb.New(time.Duration(10+i) * time.Millisecond), TimeToFirstByte: durationpb.New(5 * time.Millisecond),
		HttpStatus: status, Success: ok, FailureClass: class, Interval: durationpb.New(time.Second),
	}
}

func (e *env) produce(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	for _, r := range recs {
		r.Topic = e.cfg.Kafka.ResultsTopic
	}
	if err := e.client.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func record(t *testing.T, ev *eventsv1.CheckResult) *kgo.Record {
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(ev.GetCheckId()), Value: b, Headers: kafka.Headers(events.CheckResultV1)}
}

// start runs an aggregator until the test ends or it returns.
func (e *env) start(t *testing.T, afterWrite func() error) <-chan error {
	t.Helper()
	return e.startWith(t, func(a *Aggregator) { a.afterWrite = afterWrite })
}

func (e *env) startWith(t *testing.T, hook func(*Aggregator)) <-chan error {
	t.Helper()
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = os.Stderr
	}
	a, err := New(e.cfg, e.store, slog.New(slog.NewTextHandler(logw, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	hook(a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return done
}

func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	pollpkg.Until(t, 20*time.Second, what, cond)
}

func (e *env) stats(t *testing.T, check string) store.Stats {
	st, err := e.store.Stats(context.Background(), store.StatsQuery{CheckID: check, From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// consumeAll reads every record of topic.
func consumeAll(t *testing.T, e *env, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestPoisonRecordsGoToDeadLetterAndGoodOnesAreIngested(t *testing.T) {
	e := newEnv(t)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, record(t, result("api", i, true)))
	}
	garbage := &kgo.Record{Key: []byte("api"), Value: []byte("not protobuf \xff\xfe"), Headers: kafka.Headers(events.CheckResultV1)}
	wrongSchema := record(t, result("api", 50, true))
	wrongSchema.Headers = kafka.Headers(events.AlertStateChangedV1)
	badID := result("api", 51, true)
	badID.ResultId = "forged"
	recs = append(recs[:5], append([]*kgo.Record{garbage, wrongSchema, record(t, badID)}, recs[5:]...)...)
	e.produce(t, recs...)
	e.start(t, nil)

	poll(t, "10 good results", func() (bool, string) {
		st := e.stats(t, "api")
		return st.Samples == 10, fmt.Sprint(st.Samples)
	})
	dead := consumeAll(t, e, e.cfg.Kafka.DeadLetterTopic, 3)
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	reasons := map[string]string{}
	for _, d := range dead {
		h := map[string]string{}
		for _, kv := range d.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[kafka.HeaderDLQTopic] != e.cfg.Kafka.ResultsTopic || h[kafka.HeaderDLQPartition] == "" {
			t.Fatalf("dead letter headers %v", h)
		}
		reasons[h[kafka.HeaderDLQOffset]] = h[kafka.HeaderDLQReason]
	}
	want := []string{
		"decode picket.events.v1.CheckResult: proto:",
		`unexpected schema: header picket-schema is "picket.events.v1.AlertStateChanged", want "picket.events.v1.CheckResult"`,
		`invalid CheckResult: field result_id: "forged" is not the id of check "api"`,
	}
	for i, w := range want {
		got := reasons[strconv.Itoa(5+i)]
		if len(got) < len(w) || got[:len(w)] != w {
			t.Errorf("dead letter at offset %d: reason %q, want prefix %q", 5+i, got, w)
		}
	}
}

// A crash after the rows and alert events are written but before the offsets
// are committed redelivers the batch: nothing is counted twice and the alert
// is not recorded twice.
func TestCrashBetweenWriteAndCommitCountsOnce(t *testing.T) {
	e := newEnv(t)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10))) // 10 ok, then 10 failures
	}
	e.produce(t, recs...)
	crash := errors.New("crash before commit")
	first := e.start(t, func() error { return crash })
	if err := <-first; !errors.Is(err, crash) {
		t.Fatalf("first aggregator: %v", err)
	}
	if st := e.stats(t, "api"); st.Samples != 20 {
		t.Fatalf("after the crash %d samples are written, want 20", st.Samples)
	}
	adm := kadm.NewClient(e.client)
	offsets, err := adm.FetchOffsets(context.Background(), e.cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(offsets.Offsets()); n != 0 {
		t.Fatalf("the crashed aggregator committed %d offsets", n)
	}

	// The restarted aggregator re-reads the batch.
	e.start(t, nil)
	poll(t, "the batch committed", func() (bool, string) {
		o, err := adm.FetchOffsets(context.Background(), e.cfg.Group)
		if err != nil {
			return false, err.Error()
		}
		var total int64
		o.Each(func(r kadm.OffsetResponse) { total += r.At })
		return total == 20, fmt.Sprint(total)
	})
	st := e.stats(t, "api")
	if st.Samples != 20 || st.Successes != 10 {
		t.Fatalf("stats after redelivery: %+v", st)
	}
	alerts, err := e.store.Alerts(context.Background(), store.AlertQuery{From: t0, To: t0.Add(time.Hour), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].State != "down" {
		t.Fatalf("alert history %+v, want one down", alerts)
	}
	// Both instances may have published the transition; it has one id.
	published := consumeAll(t, e, e.cfg.Kafka.AlertsTopic, 1)
	for _, r := range published {
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.GetEventId() != alerts[0].EventID || string(r.Key) != "api/availability" {
			t.Fatalf("published %+v key %q, recorded %s", &ev, r.Key, alerts[0].EventID)
		}
	}
}

// Results delivered twice (a replay) are counted once and raise no new alert.
func TestRedeliveryIsHarmless(t *testing.T) {
	e := newEnv(t)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	e.start(t, nil)
	poll(t, "one down transition", func() (bool, string) {
		a, _ := e.store.Alerts(context.Background(), store.AlertQuery{From: t0, To: t0.Add(time.Hour), Limit: 10})
		return len(a) == 1, fmt.Sprint(len(a))
	})
	e.produce(t, recs...) // the same results again
	e.produce(t, record(t, result("api", 20, false)))
	poll(t, "the 21st result", func() (bool, string) {
		st := e.stats(t, "api")
		return st.Samples == 21, fmt.Sprint(st.Samples)
	})
	a, err := e.store.Alerts(context.Background(), store.AlertQuery{From: t0, To: t0.Add(time.Hour), Limit: 10})
	if err != nil || len(a) != 1 {
		t.Fatalf("alerts after replay: %+v %v", a, err)
	}
	poll(t, "the minute rollup to count the 21 results once", func() (bool, string) {
		m, err := e.store.MinuteStats(context.Background(), "api", t0, t0.Add(time.Minute))
		return err == nil && m.Runs == 21 && m.Successes == 10, fmt.Sprintf("%+v %v", m, err)
	})
	if a[0].Message != "Website Check api is down. availability=70.00%, time="+at(12*time.Second) {
		t.Fatalf("message %q", a[0].Message)
	}
}

func (e *env) alerts(t *testing.T) []store.AlertRow {
	t.Helper()
	a, err := e.store.Alerts(context.Background(), store.AlertQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A crash after a batch is evaluated but before the transition it decides
// is emitted (nothing of the batch is stored yet: rows wait for the flush,
// which comes after the publish): no offset was committed, so the restarted
// aggregator reads the batch again and emits the transition (once, with its
// deterministic id and the same evidence), and stores the results.
func TestCrashBeforeEmittingRecoversTheTransition(t *testing.T) {
	e := newEnv(t)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	crash := errors.New("crash before publishing")
	first := e.startWith(t, func(a *Aggregator) { a.beforePublish = func() error { return crash } })
	if err := <-first; !errors.Is(err, crash) {
		t.Fatalf("first aggregator: %v", err)
	}
	if st := e.stats(t, "api"); st.Samples != 0 || len(e.alerts(t)) != 0 || e.committed(t) != 0 {
		t.Fatalf("after the crash: %d samples, alerts %+v, %d committed; want none", st.Samples, e.alerts(t), e.committed(t))
	}
	e.start(t, nil)
	poll(t, "the lost transition", func() (bool, string) {
		a := e.alerts(t)
		return len(a) == 1 && e.stats(t, "api").Samples == 20, fmt.Sprint(a)
	})
	a := e.alerts(t)[0]
	if a.State != "down" || a.Message != "Website Check api is down. availability=70.00%, time="+at(12*time.Second) ||
		a.LastResultID != events.ResultID("api", "loc", t0.Add(12*time.Second)) || a.FirstResultID != events.ResultID("api", "loc", t0.Add(3*time.Second)) {
		t.Fatalf("recovered transition %+v", a)
	}
	if got := consumeAll(t, e, e.cfg.Kafka.AlertsTopic, 1); len(got) != 1 {
		t.Fatalf("%d alert events published, want 1", len(got))
	}
}

// A crash after the transition is published and before the results that
// decided it are stored (the new window, as transitions no longer wait for
// the results insert): the batch is redelivered, its results stored once,
// and the transition is not published again (the restored state already
// holds it) nor recorded twice.
func TestCrashAfterPublishingBeforeStoringRepeatsNothing(t *testing.T) {
	e := newEnv(t)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	crash := errors.New("crash before storing")
	first := e.startWith(t, func(a *Aggregator) { a.beforeStore = func() error { return crash } })
	if err := <-first; !errors.Is(err, crash) {
		t.Fatalf("first aggregator: %v", err)
	}
	if st := e.stats(t, "api"); st.Samples != 0 || len(e.alerts(t)) != 1 || e.committed(t) != 0 {
		t.Fatalf("after the crash: %d samples, alerts %+v, %d committed; want none, the down, none", st.Samples, e.alerts(t), e.committed(t))
	}
	downID := e.alerts(t)[0].EventID
	e.start(t, nil)
	poll(t, "the batch stored and committed", func() (bool, string) {
		st := e.stats(t, "api")
		return st.Samples == 20 && st.Successes == 10 && e.committed(t) == 20, fmt.Sprint(st.Samples, " samples, ", e.committed(t), " committed")
	})
	if a := e.alerts(t); len(a) != 1 || a[0].EventID != downID {
		t.Fatalf("alert history %+v, want the one down %s", a, downID)
	}
	if n := alertTopicSize(t, e); n != 1 {
		t.Fatalf("the alert topic holds %d records, want the one transition", n)
	}
}

// The rules' state comes back from the compacted alert topic: an open alert
// is not opened again after a restart, and its recovery says since when it
// was down, even with ClickHouse's copy of the history gone; the restart
// records again, from the topic, the transition alert_events lost.
func TestRestartRestoresStateFromTheAlertTopic(t *testing.T) {
	e := newEnv(t)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	stop := make(chan struct{})
	done := e.startWith(t, func(a *Aggregator) {
		a.afterWrite = func() error {
			select {
			case <-stop:
				return errors.New("stopped")
			default:
				return nil
			}
		}
	})
	poll(t, "the down transition", func() (bool, string) { return len(e.alerts(t)) == 1, fmt.Sprint(e.alerts(t)) })
	down := e.alerts(t)[0]
	downAt := down.At
	close(stop)
	e.produce(t, record(t, result("api", 20, false))) // lets the first aggregator reach its hook and stop
	<-done
	if err := e.store.Backend().Exec(context.Background(), "TRUNCATE TABLE "+e.store.Database()+".alert_events", nil); err != nil {
		t.Fatal(err)
	}

	e.start(t, nil)
	var more []*kgo.Record
	for i := 21; i < 45; i++ {
		more = append(more, record(t, result("api", i, i >= 30))) // still failing, then recovered
	}
	e.produce(t, more...)
	poll(t, "the recovery", func() (bool, string) { return len(e.alerts(t)) == 2, fmt.Sprint(e.alerts(t)) })
	a := e.alerts(t)
	if a[0].State != "up" || !a[0].DownSince.Equal(downAt) {
		t.Fatalf("after restart: %+v; want the recovery, down since %v", a, downAt)
	}
	if !strings.Contains(a[0].Message, "(down since "+at(12*time.Second)+")") {
		t.Fatalf("message %q", a[0].Message)
	}
	if a[1].EventID != down.EventID || !a[1].DetectedAt.Equal(down.DetectedAt) || a[1].Message != down.Message {
		t.Fatalf("re-recorded %+v, want the down as first recorded %+v", a[1], down)
	}
	if n := alertTopicSize(t, e); n != 2 {
		t.Fatalf("the alert topic holds %d records, want the down once and the recovery", n)
	}
}

// Two aggregators share the group: one joins mid-stream, then the first
// leaves. Partitions move twice, each time after the in-flight batch is
// durable and with the rules rebuilt by the new owner. Every result is
// stored once, and the alert topic holds exactly the transitions an
// in-order evaluation of the whole stream gives, each once.
func TestRebalanceLosesAndRepeatsNothing(t *testing.T) {
	e := newEnv(t)
	checks := []string{"a", "b", "c", "d", "e", "f"}
	// Each check fails for a while at a different time.
	outcome := func(ci, i int) bool { return i < 20+5*ci || i >= 35+5*ci }
	var all []*eventsv1.CheckResult
	phase := func(from, to int) []*kgo.Record {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			for ci, c := range checks {
				ev := result(c, i, outcome(ci, i))
				all = append(all, ev)
				recs = append(recs, record(t, ev))
			}
		}
		return recs
	}
	ingested := func(n int) func() (bool, string) {
		return func() (bool, string) {
			total := 0
			for _, c := range checks {
				total += int(e.stats(t, c).Samples)
			}
			return total == n, fmt.Sprint(total)
		}
	}
	e.produce(t, phase(0, 30)...)
	stopA := make(chan struct{})
	doneA := e.startWith(t, func(a *Aggregator) {
		a.afterWrite = func() error {
			select {
			case <-stopA:
				return context.Canceled
			default:
				return nil
			}
		}
	})
	poll(t, "the first phase", ingested(6*30))
	e.start(t, nil) // B joins: the group rebalances
	e.produce(t, phase(30, 60)...)
	poll(t, "the second phase", ingested(6*60))
	close(stopA) // A leaves at its next batch, uncommitted: B takes over and gets it again
	e.produce(t, phase(60, 61)...)
	<-doneA
	e.produce(t, phase(61, 90)...)
	poll(t, "the third phase", ingested(6*90))

	// The transitions an in-order evaluation of the whole stream gives.
	want := map[string]string{}
	for _, c := range checks {
		tr := alert.NewTracker(c, "Check "+c, e.cfg.Alerting.For(c), alert.Options{Lateness: e.cfg.Alerting.Lateness})
		for _, ev := range all {
			if ev.GetCheckId() == c {
				tr.Add(ingest.Sample(ev))
				for _, x := range tr.Advance(time.Time{}) {
					want[x.EventID] = x.Message
				}
			}
		}
	}
	if len(want) != 2*len(checks) {
		t.Fatalf("scenario: %d expected transitions, want a down and an up per check", len(want))
	}
	var published []*kgo.Record
	poll(t, "every transition published", func() (bool, string) {
		published = consumeAll(t, e, e.cfg.Kafka.AlertsTopic, len(want))
		return len(published) >= len(want), fmt.Sprint(len(published))
	})
	ends, err := kadm.NewClient(e.client).ListEndOffsets(context.Background(), e.cfg.Kafka.AlertsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != int64(len(want)) {
		t.Errorf("the alert topic holds %d records, want %d (one per transition)", total, len(want))
	}
	seen := map[string]int{}
	for _, r := range published {
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.GetEventId()]++
		if want[ev.GetEventId()] != ev.GetMessage() {
			t.Errorf("unexpected transition %s: %s", ev.GetEventId(), ev.GetMessage())
		}
	}
	for id, msg := range want {
		if seen[id] != 1 {
			t.Errorf("transition %q published %d times, want once", msg, seen[id])
		}
	}
	// The history holds them too, each once, whichever instance stored it.
	poll(t, "every transition recorded", func() (bool, string) {
		n := len(e.alerts(t))
		return n == len(want), fmt.Sprint(n)
	})
	for _, a := range e.alerts(t) {
		if want[a.EventID] != a.Message {
			t.Errorf("recorded an unexpected transition %s: %s", a.EventID, a.Message)
		}
	}
	for _, c := range checks {
		if st := e.stats(t, c); st.Samples != 90 {
			t.Errorf("check %s: %d samples, want 90", c, st.Samples)
		}
	}
}

// Results produced out of order (each displaced by up to 1.5 s of event
// time, under the 2 s lateness) and partly twice, from three locations,
// give exactly the transitions of the in-order stream.
func TestOutOfOrderResultsGiveTheInOrderTransitions(t *testing.T) {
	e := newEnv(t)
	e.cfg.Alerting.Rules["two-strikes"] = alert.Rule{Kind: alert.KindConsecutive, Failures: 2, Successes: 2, Quorum: 2}
	var inOrder []*eventsv1.CheckResult
	for i := range 60 {
		for li, loc := range []string{"ap", "eu", "us"} {
			ok := i < 15+3*li || i >= 30+2*li
			ev := result("api", i, ok)
			ev.Location = loc
			ev.ResultId = events.ResultID("api", loc, ev.GetScheduledAt().AsTime())
			inOrder = append(inOrder, ev)
		}
	}
	want := map[string]string{}
	tr := alert.NewTracker("api", "Check api", e.cfg.Alerting.For("api"), alert.Options{Lateness: e.cfg.Alerting.Lateness})
	for _, ev := range inOrder {
		tr.Add(ingest.Sample(ev))
		for _, x := range tr.Advance(time.Time{}) {
			want[x.EventID] = x.Message
		}
	}
	if len(want) < 4 {
		t.Fatalf("scenario too tame: %v", want)
	}
	// Shuffle within 1.5 s of event time, and repeat every fifth result.
	shuffled := append([]*eventsv1.CheckResult(nil), inOrder...)
	key := func(ev *eventsv1.CheckResult) float64 {
		h := int(ev.GetResultId()[0]) + int(ev.GetResultId()[1])
		return float64(ev.GetScheduledAt().AsTime().UnixMilli()) + float64(h%16)*100
	}
	sort.SliceStable(shuffled, func(i, j int) bool { return key(shuffled[i]) < key(shuffled[j]) })
	var recs []*kgo.Record
	for i, ev := range shuffled {
		recs = append(recs, record(t, ev))
		if i%5 == 0 {
			recs = append(recs, record(t, ev))
		}
	}
	e.start(t, nil)
	// Produced in small bursts, as probers do, so the aggregator sees many batches.
	for i := 0; i < len(recs); i += 7 {
		e.produce(t, recs[i:min(i+7, len(recs))]...)
	}
	var published []*kgo.Record
	poll(t, "every transition published", func() (bool, string) {
		published = consumeAll(t, e, e.cfg.Kafka.AlertsTopic, len(want))
		return len(published) >= len(want), fmt.Sprint(len(published))
	})
	for _, r := range published {
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if want[ev.GetEventId()] != ev.GetMessage() {
			t.Errorf("transition %s not in the in-order evaluation: %s", ev.GetEventId(), ev.GetMessage())
		}
		delete(want, ev.GetEventId())
	}
	for _, msg := range want {
		t.Errorf("missing transition: %s", msg)
	}
	// Stored by the flush after the transitions they decided.
	poll(t, "180 samples", func() (bool, string) {
		st := e.stats(t, "api")
		return st.Samples == 180, fmt.Sprint(st.Samples)
	})
}
