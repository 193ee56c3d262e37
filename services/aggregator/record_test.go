package aggregator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	pollpkg "github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/aggregator/alert"
)

// rawAlertRows counts alert_events' rows as inserted (not FINAL): a
// transition inserted twice is two until the table merges them.
func (e *env) rawAlertRows(t *testing.T) uint64 {
	t.Helper()
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := e.store.Backend().Select(context.Background(), &rows, "SELECT count() AS n FROM "+e.store.Database()+".alert_events", nil); err != nil || len(rows) != 1 {
		t.Fatalf("count alert_events: %v %v", rows, err)
	}
	return rows[0].N
}

// A crash after transitions are published and before their alert_events
// rows are stored (they wait for the flush): their results are not
// committed, so the restart redelivers them, and they decide the same
// transitions, which the state restored from the alert topic holds already:
// not published again. The restore stores them from the topic instead, each
// once, as published; a rule's event stored before the crash is not
// inserted again. (Coalescing the inserts without that would leave them on
// the topic and out of the history for good.)
func TestCrashBeforeStoringAlertEventsRecordsThemAtTheRestart(t *testing.T) {
	e := newEnv(t)
	adm := kadm.NewClient(e.client)
	published := func() int64 {
		ends, err := adm.ListEndOffsets(context.Background(), e.cfg.Kafka.AlertsTopic)
		if err != nil {
			return -1
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}
	crash := errors.New("crash before storing alert events")
	var inserts atomic.Int32
	first := e.startWith(t, func(a *Aggregator) {
		a.beforeAlertInsert = func() error {
			if inserts.Add(1) == 1 {
				return nil // the first transition's
			}
			// Every later transition is published first (the batches after
			// the flush's are handled meanwhile), then the crash. (Not
			// poll.Until: this is not the test's goroutine.)
			deadline := time.After(20 * time.Second)
			tick := time.NewTicker(pollpkg.Interval)
			defer tick.Stop()
			for published() < 3 {
				select {
				case <-deadline:
					return crash
				case <-tick.C:
				}
			}
			return crash
		}
	})
	// api goes down, recorded and committed; then it recovers and web goes
	// down, both published, and the crash comes before they are stored.
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	poll(t, "api's down recorded and committed", func() (bool, string) {
		return len(e.alerts(t)) == 1 && e.committed(t) == 20, fmt.Sprint(e.alerts(t), e.committed(t))
	})
	recs = nil
	for i := range 40 {
		if i >= 20 {
			recs = append(recs, record(t, result("api", i, true)))
		}
		recs = append(recs, record(t, result("web", i, i < 10)))
	}
	e.produce(t, recs...)
	if err := <-first; !errors.Is(err, crash) {
		t.Fatalf("first aggregator: %v", err)
	}
	if n := published(); n != 3 || e.rawAlertRows(t) != 1 || e.committed(t) != 20 {
		t.Fatalf("after the crash: %d transitions published, %d alert rows, %d offsets committed; want 3, 1, 20",
			n, e.rawAlertRows(t), e.committed(t))
	}
	topic := map[string]store.AlertRow{}
	for _, ev := range publishedAlerts(t, e, 3) {
		topic[ev.GetEventId()] = EventRow(ev)
	}

	e.start(t, nil)
	poll(t, "the results stored and committed", func() (bool, string) {
		return e.committed(t) == 80 && e.stats(t, "web").Samples == 40, fmt.Sprint(e.committed(t), " committed")
	})
	poll(t, "the three transitions recorded", func() (bool, string) { return len(e.alerts(t)) == 3, fmt.Sprint(e.alerts(t)) })
	got := e.alerts(t)
	for _, a := range got {
		want, ok := topic[a.EventID]
		if !ok || a.State != want.State || a.Message != want.Message || !a.DetectedAt.Equal(want.DetectedAt.Truncate(time.Millisecond)) || a.Historical != want.Historical {
			t.Errorf("recorded %+v, published %+v", a, want)
		}
	}
	var states []string
	for _, a := range got {
		states = append(states, a.CheckID+" "+a.State)
	}
	if s := strings.Join(states, ", "); s != "api up, api down, web down" {
		t.Errorf("history %s, want api's down and up and web's down", s)
	}
	if n := e.rawAlertRows(t); n != 3 {
		t.Errorf("%d alert_events rows inserted, want each transition once", n)
	}
	if n := published(); n != 3 {
		t.Errorf("the alert topic holds %d records, want each transition once", n)
	}
}

// Batches handled within one rollup_interval, each deciding a transition,
// have their alert_events rows stored by one insert, the flush's (before:
// one per batch); each transition is on the alert topic at once.
func TestTransitionsOfManyBatchesAreStoredByOneInsert(t *testing.T) {
	e := newEnv(t)
	e.cfg.RollupInterval = 10 * time.Second
	reg, _ := e.runAlerting(t, nil)
	began := time.Now()
	checks := []string{"a", "b", "c"}
	for k, c := range checks {
		var recs []*kgo.Record
		for i := range 20 {
			recs = append(recs, record(t, result(c, i, i < 10)))
		}
		e.produce(t, recs...)
		poll(t, c+"'s transition published", func() (bool, string) {
			n := alertTopicSize(t, e)
			return n == int64(k+1), fmt.Sprint(n)
		})
	}
	if time.Since(began) < e.cfg.RollupInterval {
		if n := len(e.alerts(t)); n != 0 {
			t.Fatalf("%d alert events stored before the flush, want them waiting for it", n)
		}
	}
	pollpkg.Until(t, 3*e.cfg.RollupInterval, "the three transitions recorded", func() (bool, string) {
		return len(e.alerts(t)) == 3, fmt.Sprint(e.alerts(t))
	})
	batches := histogramCount(t, reg, "picket_aggregator_batch_duration_seconds")
	if n := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "alert_events"); n != 1 || batches < 3 {
		t.Fatalf("%v alert_events inserts for %v batches with a transition each, want 1", n, batches)
	}
}

// A published event gives back the row of the transition it was made of:
// what the restore re-records is what the flush would have stored.
func TestAnEventGivesTheRowOfItsTransition(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 12, 0, time.UTC)
	detected := time.Date(2026, 11, 30, 10, 0, 12, 345678901, time.UTC)
	avail := alert.Rule{Kind: alert.KindAvailability, Threshold: 0.8, Window: 10 * time.Second, Quorum: 2}
	for _, tr := range []*alert.Transition{
		{EventID: "e1", CheckID: "api", CheckName: "API", CheckType: "http", RuleName: "availability", Rule: avail,
			From: alert.StateUp, To: alert.StateDown, At: at, Value: 0.7, Unit: "ratio", Availability: 0.7, Samples: 10,
			Successes: 7, FirstResultID: "r1", LastResultID: "r2", Location: "eu", FailingLocations: []string{"eu", "us"},
			Locations: 3, Summary: "Website API is down", Message: "Website API is down. …", DetectedAt: detected},
		{EventID: "e2", CheckID: "api", CheckName: "API", RuleName: "availability", Rule: avail, From: alert.StateDown,
			To: alert.StateUp, At: at.Add(time.Minute), Since: at, Value: 0.9, Unit: "ratio", Availability: 0.9,
			FailingLocations: []string{}, DetectedAt: detected, Historical: true, Silenced: true, Silence: "deploy"},
		{EventID: "e3", CheckID: "db", RuleName: "slow", Rule: alert.Rule{Kind: alert.KindLatency, Limit: 800 * time.Millisecond,
			Window: 5 * time.Minute, Percentile: 95}, From: alert.StateUp, To: alert.StateDegraded, At: at, Value: 1234, Unit: "ms",
			FailingLocations: []string{"eu"}, DetectedAt: detected},
		{EventID: "e4", CheckID: "db", RuleName: "slow", Rule: avail, From: alert.StateDegraded, To: alert.StateStale,
			At: at.Add(time.Hour), Since: at, Value: 5, Unit: "intervals", FailingLocations: []string{}, DetectedAt: detected},
	} {
		if got, want := EventRow(Event(tr)), AlertRow(tr); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the event's row\n%+v\nthe transition's\n%+v", tr.EventID, got, want)
		}
	}
}

// A flush slow to rebuild its rollups (the next one waits for it) does not
// hold back the history: a transition published meanwhile is stored once it
// has waited two rollup intervals.
func TestAlertEventsDoNotWaitForASlowFlush(t *testing.T) {
	e := newEnv(t)
	blocked, release := make(chan struct{}), make(chan struct{})
	var flushes atomic.Int32
	e.runAlerting(t, func(a *Aggregator) {
		a.beforeRollups = func() error {
			if flushes.Add(1) == 1 {
				close(blocked)
				<-release
			}
			return nil
		}
	})
	defer close(release)
	e.produce(t, record(t, result("other", 0, true)))
	<-blocked // the first flush stored that row and rebuilds its rollups, slowly
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	poll(t, "api's down published", func() (bool, string) { n := alertTopicSize(t, e); return n == 1, fmt.Sprint(n) })
	published := time.Now()
	poll(t, "api's down recorded while the flush is in the air", func() (bool, string) {
		a := e.alerts(t)
		return len(a) == 1 && a[0].CheckID == "api", fmt.Sprint(a)
	})
	if waited, bound := time.Since(published), 2*e.cfg.RollupInterval+storeAlertsEvery+3*time.Second; waited > bound {
		t.Errorf("recorded %v after its publish, want at most %v", waited, bound)
	}
	if n := flushes.Load(); n != 1 {
		t.Errorf("%d flushes reached the rollups, want the first only, still in the air", n)
	}
}

// A publishes every check's down and cannot store them (its alert_events
// inserts hang); B joins and takes some partitions, restoring them while
// A still holds their rows: B must record those downs (the re-record),
// then A crashes and B records the rest at its next restore.
// TestRebalanceLosesAndRepeatsNothing passes with rerecord disabled (A
// stays up and stores its own rows); this one does not.
func TestNewOwnerRecordsWhatTheOldOwnerHolds(t *testing.T) {
	e := newEnv(t)
	checks := []string{"a", "b", "c", "d", "e", "f"}
	release := make(chan struct{})
	var once sync.Once
	crash := errors.New("crash while holding alert rows")
	doneA := e.startWith(t, func(a *Aggregator) {
		a.beforeAlertInsert = func() error { <-release; return crash }
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var recs []*kgo.Record
	for i := range 20 {
		for _, c := range checks {
			recs = append(recs, record(t, result(c, i, i >= 10)))
		}
	}
	e.produce(t, recs...)
	poll(t, "A published every down and up", func() (bool, string) { n := alertTopicSize(t, e); return n == 12, fmt.Sprint(n) })
	if n := len(e.alerts(t)); n != 0 {
		t.Fatalf("%d recorded before B, want A's rows held", n)
	}
	e.start(t, nil) // B joins: some partitions move while A holds their rows
	poll(t, "B recorded the moved checks' downs while A holds them", func() (bool, string) {
		n := len(e.alerts(t))
		return n > 0, fmt.Sprint(n)
	})
	once.Do(func() { close(release) })
	if err := <-doneA; !errors.Is(err, crash) {
		t.Fatalf("A: %v", err)
	}
	poll(t, "every transition recorded", func() (bool, string) { n := len(e.alerts(t)); return n == 12, fmt.Sprint(n) })
}

// While alert_events refuses inserts, the alert history falls behind the
// alert topic: /readyz says so once that lasts stall_timeout, and a metric
// shows the lag; once inserts work again every transition is stored and the
// service is ready.
func TestAlertHistoryBehindIsNamedInReadyz(t *testing.T) {
	e := newEnv(t)
	e.cfg.StallTimeout = 300 * time.Millisecond
	var failing atomic.Bool
	failing.Store(true)
	_, addr := e.runAggregator(t, func(a *Aggregator) {
		a.beforeAlertInsert = func() error {
			if failing.Load() {
				return errors.New("code: 252, too many parts")
			}
			return nil
		}
	})
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	poll(t, "/readyz names the alert history's lag", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusServiceUnavailable &&
			strings.Contains(body, "alert history behind: 1 published transitions not stored in alert_events"), fmt.Sprint(code, " ", body)
	})
	poll(t, "the metric shows it", func() (bool, string) {
		_, body := get(t, "http://"+addr+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "picket_aggregator_alert_events_waiting_seconds "); ok {
				return v != "0", line
			}
		}
		return false, "no picket_aggregator_alert_events_waiting_seconds"
	})
	failing.Store(false)
	poll(t, "ready again, the down stored", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		n := len(e.alerts(t))
		return code == http.StatusOK && n == 1, fmt.Sprint(code, " ", body, " alerts ", n)
	})
}

// The same while the insert hangs (or keeps failing inside its retries):
// the rows it took still count as waiting (they used to be in no queue, and
// the lag read 0).
func TestAlertHistoryBehindWhileTheInsertRetries(t *testing.T) {
	e := newEnv(t)
	e.cfg.StallTimeout = 300 * time.Millisecond
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	_, addr := e.runAggregator(t, func(a *Aggregator) {
		a.beforeAlertInsert = func() error { <-release; return nil }
	})
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, i < 10)))
	}
	e.produce(t, recs...)
	poll(t, "/readyz names the alert history's lag while its insert hangs", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusServiceUnavailable &&
			strings.Contains(body, "alert history behind: 1 published transitions not stored in alert_events"), fmt.Sprint(code, " ", body)
	})
	once.Do(func() { close(release) })
	poll(t, "ready again, the down stored", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		n := len(e.alerts(t))
		return code == http.StatusOK && n == 1, fmt.Sprint(code, " ", body, " alerts ", n)
	})
}
