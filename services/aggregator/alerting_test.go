package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/backtest"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// runAlerting runs an aggregator with its own registry until stop is
// called or the test ends.
func (e *env) runAlerting(t *testing.T, hook func(*Aggregator)) (reg *prometheus.Registry, stop func()) {
	t.Helper()
	reg = prometheus.NewRegistry()
	a, err := New(e.cfg, e.store, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("aggregator: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return reg, stop
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// publishedAlerts decodes the alert topic.
func publishedAlerts(t *testing.T, e *env, want int) []*eventsv1.AlertStateChanged {
	t.Helper()
	var out []*eventsv1.AlertStateChanged
	for _, r := range consumeAll(t, e, e.cfg.Kafka.AlertsTopic, want) {
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

func alertTopicSize(t *testing.T, e *env) int64 {
	t.Helper()
	ends, err := kadm.NewClient(e.client).ListEndOffsets(context.Background(), e.cfg.Kafka.AlertsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	return total
}

// Six checks' results, shuffled within 4.5 s of event time (under the 5 s
// lateness) and partly repeated, stream through two aggregators: the second
// joins a third of the way in, while results displaced behind the newest
// stored ones are still in Kafka, and the first leaves (uncommitted) two
// thirds of the way in. Each instance rebuilds only the partitions it is
// assigned, under the watermark's rules: the alert topic holds exactly the
// transitions of an in-order evaluation, each once.
func TestRebalanceMidOutOfOrderStreamGivesTheInOrderTransitions(t *testing.T) {
	e := newEnv(t)
	e.cfg.Alerting.Lateness = 5 * time.Second
	e.cfg.Alerting.Rules["two-strikes"] = alert.Rule{Kind: alert.KindConsecutive, Failures: 2, Successes: 2}
	checks := []string{"a", "b", "c", "d", "e", "f"}
	// Each check fails for a while at a different time, and flaps.
	outcome := func(ci, i int) bool { return (i < 20+7*ci || i >= 32+7*ci) && (i+ci)%9 > 1 }
	var inOrder []*eventsv1.CheckResult
	for i := range 90 {
		for ci, c := range checks {
			inOrder = append(inOrder, result(c, i, outcome(ci, i)))
		}
	}
	want := map[string]string{}
	for _, c := range checks {
		tr := alert.NewTracker(c, "Check "+c, e.cfg.Alerting.For(c), alert.Options{Lateness: e.cfg.Alerting.Lateness})
		tr.SetType("http")
		for _, ev := range inOrder {
			if ev.GetCheckId() == c {
				tr.Add(ingest.Sample(ev))
				for _, x := range tr.Advance(time.Time{}) {
					want[x.EventID] = x.Message
				}
			}
		}
	}
	if len(want) < 8*len(checks) {
		t.Fatalf("scenario too tame: %d expected transitions", len(want))
	}
	shuffled := append([]*eventsv1.CheckResult(nil), inOrder...)
	key := func(ev *eventsv1.CheckResult) float64 {
		h := int(ev.GetResultId()[0]) + int(ev.GetResultId()[1])
		return float64(ev.GetScheduledAt().AsTime().UnixMilli()) + float64(h%16)*300
	}
	sort.SliceStable(shuffled, func(i, j int) bool { return key(shuffled[i]) < key(shuffled[j]) })
	var recs []*kgo.Record
	for i, ev := range shuffled {
		recs = append(recs, record(t, ev))
		if i%5 == 0 {
			recs = append(recs, record(t, ev))
		}
	}
	produce := func(from, to int) {
		for i := from; i < to; i += 7 {
			e.produce(t, recs[i:min(i+7, to)]...)
		}
	}
	stored := func(n int) func() (bool, string) {
		return func() (bool, string) {
			total := 0
			for _, c := range checks {
				total += int(e.stats(t, c).Samples)
			}
			return total >= n, fmt.Sprint(total)
		}
	}
	third := len(recs) / 3
	stopA := make(chan struct{})
	var hold atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	doneA := make(chan struct{})
	regA, _ := e.runAlerting(t, func(a *Aggregator) {
		a.afterWrite = func() error {
			if hold.CompareAndSwap(true, false) {
				close(held)
				<-release
			}
			select {
			case <-stopA:
				close(doneA)
				return context.Canceled
			default:
				return nil
			}
		}
	})
	produce(0, third)
	poll(t, "the first third stored", stored(len(inOrder)/4))
	// A holds its next batch (and so the group's rebalance) while the second
	// third goes into Kafka and B joins: when the partitions move, the
	// results displaced behind the newest stored ones are still in Kafka.
	hold.Store(true)
	produce(third, third+7)
	<-held
	produce(third+7, 2*third)
	regB, _ := e.runAlerting(t, nil) // B joins: the group rebalances mid-stream
	adm := kadm.NewClient(e.client)
	poll(t, "B waiting to join", func() (bool, string) {
		gs, err := adm.DescribeGroups(context.Background(), e.cfg.Group)
		if err != nil {
			return false, err.Error()
		}
		g := gs[e.cfg.Group]
		return g.State == "PreparingRebalance", g.State
	})
	close(release)
	poll(t, "the second third stored", stored(len(inOrder)/2))
	close(stopA) // A leaves at its next batch, uncommitted: B takes over and gets it again
	produce(2*third, 2*third+7)
	<-doneA
	produce(2*third+7, len(recs))
	poll(t, "everything stored", stored(len(inOrder)))

	var published []*eventsv1.AlertStateChanged
	poll(t, "every transition published", func() (bool, string) {
		published = publishedAlerts(t, e, len(want))
		return len(published) >= len(want), fmt.Sprint(len(published))
	})
	seen := map[string]int{}
	for _, ev := range published {
		seen[ev.GetEventId()]++
		if want[ev.GetEventId()] != ev.GetMessage() {
			t.Errorf("transition not in the in-order evaluation: %s", ev.GetMessage())
		}
	}
	for id, msg := range want {
		if seen[id] != 1 {
			t.Errorf("transition %q published %d times, want once", msg, seen[id])
		}
	}
	for name, reg := range map[string]*prometheus.Registry{"A": regA, "B": regB} {
		if n := counter(t, reg, "picket_aggregator_rule_inputs_total", "outcome", "late"); n != 0 {
			t.Errorf("instance %s: %v results too late for the rules, want none (all within the lateness)", name, n)
		}
	}
	if n := alertTopicSize(t, e); n != int64(len(want)) {
		t.Errorf("the alert topic holds %d records, want %d (one per transition)", n, len(want))
	}
	// The restore maps checks to partitions as the producer did.
	for _, r := range consumeAll(t, e, e.cfg.Kafka.ResultsTopic, len(recs)) {
		if p := partitionOf(string(r.Key), e.cfg.Kafka.Partitions); p != r.Partition {
			t.Fatalf("check %s: produced to partition %d, partitionOf says %d", r.Key, r.Partition, p)
		}
	}
}

// sameDisplayPartition finds a check id whose results land on the same
// partition as check's.
func samePartition(check string, partitions int32) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("other-%d", i); partitionOf(id, partitions) == partitionOf(check, partitions) {
			return id
		}
	}
}

// A check whose results stop while its partition's other checks go on goes
// stale once: its open alert resolves with a message saying why, the tracker
// is evicted, a restart does not repeat it, and results that resume are
// evaluated normally.
func TestSilentCheckResolvesOnceAndResumes(t *testing.T) {
	e := newEnv(t)
	e.cfg.Alerting.StaleAfter = 5
	other := samePartition("api", e.cfg.Kafka.Partitions)
	var recs []*kgo.Record
	for i := range 60 {
		if i < 20 {
			recs = append(recs, record(t, result("api", i, i < 10))) // down at 12 s, then silent after 19 s
		}
		ev := result(other, i, true)
		if i >= 40 && i < 46 {
			// Six runs its prober skipped for overload: counted as failures
			// they would open other's alert (4 of 10 ok).
			ev.Success, ev.FailureClass = false, eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD
		}
		recs = append(recs, record(t, ev))
	}
	e.produce(t, recs...)
	reg, stop := e.runAlerting(t, nil)
	// Only api's transitions: other may go stale too in a long pause.
	apiAlerts := func() []store.AlertRow {
		var out []store.AlertRow
		for _, a := range e.alerts(t) {
			if a.CheckID == "api" {
				out = append(out, a)
			}
		}
		return out
	}
	poll(t, "the down and the stale transitions", func() (bool, string) {
		a := apiAlerts()
		return len(a) == 2, fmt.Sprint(a)
	})
	a := apiAlerts()
	want := "Website Check api stopped reporting. no results for 5s (5 intervals): the check was removed or its prober stopped; alert resolved, time=" +
		at(24*time.Second) + ", open for 12s (down since " + at(12*time.Second) + ")"
	if a[0].State != alert.StateStale || a[0].PreviousState != alert.StateDown || a[0].Message != want ||
		!a[0].At.Equal(t0.Add(24*time.Second)) || !a[0].DownSince.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("stale transition %+v\nwant message %q", a[0], want)
	}
	if a[1].State != alert.StateDown || a[1].CheckID != "api" {
		t.Fatalf("first transition %+v", a[1])
	}
	// api's tracker is evicted (lookback 11 s + lateness 2 s after 19 s).
	poll(t, "api's tracker evicted", func() (bool, string) {
		n := gauge(t, reg, "picket_aggregator_tracked_checks")
		return n == 1, fmt.Sprint(n)
	})
	stop()

	// A restart rebuilds api from the stored results and the topic's stale
	// state: it is not resolved again.
	reg, _ = e.runAlerting(t, nil)
	var more []*kgo.Record
	for i := 60; i < 70; i++ {
		more = append(more, record(t, result(other, i, true)))
	}
	e.produce(t, more...)
	poll(t, "the restarted aggregator ingests", func() (bool, string) {
		s := e.stats(t, other).Samples
		return s == 70-6, fmt.Sprint(s) // stats leave the skipped runs out too
	})
	poll(t, "the restored stale check evicted", func() (bool, string) {
		n := gauge(t, reg, "picket_aggregator_tracked_checks")
		return n == 1, fmt.Sprint(n)
	})
	apiEvents := 0
	for _, ev := range publishedAlerts(t, e, 2) {
		if ev.GetCheckId() == "api" {
			apiEvents++
		}
	}
	if apiEvents != 2 || len(apiAlerts()) != 2 {
		t.Fatalf("after a restart: %d alert events of api, history %+v; want the down and the stale only", apiEvents, apiAlerts())
	}

	// api reports again, failing: evaluated normally, from its new results.
	var back []*kgo.Record
	for i := 80; i < 100; i++ {
		back = append(back, record(t, result("api", i, false)), record(t, result(other, i, true)))
	}
	e.produce(t, back...)
	poll(t, "the new down", func() (bool, string) {
		a := apiAlerts()
		return len(a) == 3, fmt.Sprint(a)
	})
	if d := apiAlerts()[0]; d.State != alert.StateDown || d.PreviousState != alert.StateStale || !d.At.Equal(t0.Add(84*time.Second)) ||
		!strings.HasPrefix(d.Message, "Website Check api is down. availability=0.00%") {
		t.Fatalf("after resuming: %+v", d)
	}
	for _, a := range e.alerts(t) {
		if a.CheckID == other && a.State == alert.StateDown {
			t.Fatalf("%s: skipped runs counted: %+v", other, a)
		}
	}

	// The history is stored by the flush after the transitions it decided.
	poll(t, "api's resumed results stored", func() (bool, string) {
		s := e.stats(t, "api").Samples
		return s == 40, fmt.Sprint(s)
	})
	// `picket backtest` of the same history with the same rules gives the
	// same transitions (other's may differ: a long pause of this test makes
	// it stale on the wall clock, which history does not hold).
	rep, err := backtest.Run(context.Background(), e.store, backtest.Options{Rules: e.cfg.Alerting,
		From: t0.Add(-time.Minute), To: t0.Add(100 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var live, bt []string
	for _, a := range apiAlerts() {
		live = append(live, a.State+"@"+a.At.Sub(t0).String()+" "+a.Message)
	}
	for i := len(rep.Candidate) - 1; i >= 0; i-- {
		if c := rep.Candidate[i]; c.CheckID == "api" {
			bt = append(bt, c.State+"@"+c.At.Sub(t0).String()+" "+c.Message)
		} else if c.State == alert.StateDown {
			t.Errorf("backtest counted skipped runs: %+v", c)
		}
	}
	if strings.Join(live, "\n") != strings.Join(bt, "\n") {
		t.Fatalf("backtest\n%s\nlive\n%s", strings.Join(bt, "\n"), strings.Join(live, "\n"))
	}
}

// When the whole partition falls silent, the wall clock is the only clock:
// the silent check still goes stale.
func TestWholePartitionSilentGoesStaleOnTheWallClock(t *testing.T) {
	e := newEnv(t)
	e.cfg.Alerting.StaleAfter = 2
	e.cfg.Alerting.Lateness = 500 * time.Millisecond
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	e.runAlerting(t, nil)
	poll(t, "the down, then the stale transition", func() (bool, string) {
		a := e.alerts(t)
		return len(a) == 2 && a[0].State == alert.StateStale, fmt.Sprint(a)
	})
	if a := e.alerts(t)[0]; !a.At.Equal(t0.Add(21*time.Second)) || !strings.Contains(a.Message, "no results for 2s (2 intervals)") {
		t.Fatalf("stale %+v", a)
	}
}

// A check that fell silent before the restore horizon with its alert still
// open (e.g. before an upgrade that brought staleness) is resolved at the
// rebuild, from its newest stored result, once.
func TestRestoreResolvesACheckSilentSinceBeforeTheHorizon(t *testing.T) {
	e := newEnv(t)
	other := samePartition("api", e.cfg.Kafka.Partitions)
	var recs []*kgo.Record
	for i := range 60 {
		if i < 20 {
			recs = append(recs, record(t, result("api", i, i < 10)))
		}
		recs = append(recs, record(t, result(other, i, true)))
	}
	e.produce(t, recs...)
	_, stop := e.runAlerting(t, nil) // stale_after 1000: api stays down
	poll(t, "api down", func() (bool, string) { return len(e.alerts(t)) == 1, fmt.Sprint(e.alerts(t)) })
	poll(t, "everything stored", func() (bool, string) {
		s := e.stats(t, other).Samples
		return s == 60, fmt.Sprint(s)
	})
	stop()

	e.cfg.Alerting.StaleAfter = 5
	e.cfg.Alerting.RestoreHorizon = 15 * time.Second // from 44 s: api's results are all older
	e.runAlerting(t, nil)
	poll(t, "api resolved at the rebuild", func() (bool, string) { return len(e.alerts(t)) == 2, fmt.Sprint(e.alerts(t)) })
	a := e.alerts(t)[0]
	if a.State != alert.StateStale || !a.At.Equal(t0.Add(24*time.Second)) || !a.Historical ||
		!strings.Contains(a.Message, "no results for 5s (5 intervals): the check was removed or its prober stopped; alert resolved") {
		t.Fatalf("%+v", a)
	}
}
