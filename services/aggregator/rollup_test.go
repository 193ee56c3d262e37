package aggregator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// Results arriving one batch after another have their rollups rebuilt
// together, every rollup_interval: one statement per rollup table for all
// of them, not one per batch (and per partition) as before.
func TestRollupsAreCoalescedAcrossBatches(t *testing.T) {
	e := newEnv(t)
	reg, _ := e.runAlerting(t, nil)
	began := time.Now()
	const n = 15
	// A result every 100 ms (paced, as a prober's), of three checks spread
	// over the topic's partitions: a batch each, the consumer being caught up.
	pace := time.NewTicker(100 * time.Millisecond)
	defer pace.Stop()
	for i := range n {
		<-pace.C
		e.produce(t, record(t, result(fmt.Sprintf("api-%d", i%3), i, true)))
	}
	poll(t, "every result committed and rolled up", func() (bool, string) {
		var runs uint64
		for c := range 3 {
			m, err := e.store.MinuteStats(context.Background(), fmt.Sprintf("api-%d", c), t0, t0.Add(time.Minute))
			if err != nil {
				return false, err.Error()
			}
			runs += m.Runs
		}
		return e.committed(t) == n && runs == n, fmt.Sprint(e.committed(t), runs)
	})
	elapsed := time.Since(began)
	batches := histogramCount(t, reg, "picket_aggregator_batch_duration_seconds")
	// The results rows are stored by the same flush, coalesced too.
	for _, table := range []string{"check_results", "check_rollup_1m", "check_rollup_1h", "check_rollup_1d"} {
		statements := counter(t, reg, "picket_aggregator_insert_statements_total", "table", table)
		// One per rollup interval elapsed, and one more for a cut between.
		if limit := float64(elapsed/e.cfg.RollupInterval) + 2; statements < 1 || statements > limit || statements >= batches {
			t.Errorf("%s: %v insert statements in %v (%v batches), want 1..%v", table, statements, elapsed, batches, limit)
		}
	}
}

// histogramCount is the number of observations of an unlabelled histogram.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return float64(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0
}

// Rows waiting for the flush are bounded: once pendingBatches ×
// batch_max_records of them wait, they are stored (and their offsets
// committed) without waiting out the rollup interval, in inserts of at most
// batch_max_records rows.
func TestManyRowsAreFlushedBeforeTheInterval(t *testing.T) {
	e := newEnv(t)
	e.cfg.BatchMaxRecords = 5
	e.cfg.RollupInterval = 25 * time.Second // longer than poll's 20 s deadline
	reg, _ := e.runAlerting(t, nil)
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, record(t, result("api", i, true)))
	}
	e.produce(t, recs...)
	// Each flush takes 25 to 29 rows: three of them at least.
	poll(t, "75 results stored and committed", func() (bool, string) {
		st := e.stats(t, "api")
		return st.Samples >= 75 && e.committed(t) >= 75, fmt.Sprint(st.Samples, " stored, ", e.committed(t), " committed")
	})
	if n := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_results"); n < 15 {
		t.Errorf("%v results inserts for 75 rows or more, want at least 15 of at most 5 rows", n)
	}
}

// Live results (their minute still current on the wall clock) have their
// minutes rebuilt at every flush but their hours and days only once the
// minute closes, or at a clean stop; and a start rebuilds the hours and
// days of the restore horizon, which a crash may have left behind.
func TestLiveHoursAndDaysWaitForTheirMinute(t *testing.T) {
	e := newEnv(t)
	e.cfg.RollupInterval = 100 * time.Millisecond
	// The wall clock stands 30 s into the results' minute.
	now := func() time.Time { return t0.Add(30 * time.Second) }
	reg, stop := e.runAlerting(t, func(a *Aggregator) { a.now = now })
	for i := range 20 {
		e.produce(t, record(t, result("api", i, true)))
	}
	hourRuns := func() uint64 {
		h, err := e.store.RollupStats(context.Background(), store.Hour, "api", t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return h.Runs
	}
	poll(t, "the 20 results committed and in their minute", func() (bool, string) {
		m, err := e.store.MinuteStats(context.Background(), "api", t0, t0.Add(time.Minute))
		return err == nil && m.Runs == 20 && e.committed(t) == 20, fmt.Sprintf("%+v %v %d", m, err, e.committed(t))
	})
	if n, runs := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_rollup_1h"), hourRuns(); n != 0 || runs != 0 {
		t.Fatalf("%v hour rebuilds, the hour counts %d runs; want none while the minute is current", n, runs)
	}
	stop()
	if runs := hourRuns(); runs != 20 {
		t.Fatalf("after a clean stop the hour counts %d runs, want 20", runs)
	}
	// What a crash before the minute closed leaves: minutes, no hours or days.
	for _, table := range []string{"check_rollup_1h", "check_rollup_1d"} {
		if err := e.store.Backend().Exec(context.Background(), "TRUNCATE TABLE "+e.store.Database()+"."+table, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.runAlerting(t, func(a *Aggregator) { a.now = now })
	poll(t, "the start to rebuild the hour and the day", func() (bool, string) {
		d, err := e.store.RollupStats(context.Background(), store.Day, "api", embeddedtest.Day(), embeddedtest.Day().Add(24*time.Hour))
		return err == nil && hourRuns() == 20 && d.Runs == 20, fmt.Sprint(hourRuns(), d.Runs, err)
	})
}

// While results keep coming, live hours and days wait for their minute to
// close, however long that is (each rebuild re-reads the hour's minutes so
// far: every 10 s cost 40 % of the engine at 10,000 checks); once results
// pause, they are rebuilt without waiting for it.
func TestLiveHoursWaitWhileResultsComeAndNotOnceTheyPause(t *testing.T) {
	e := newEnv(t)
	e.cfg.RollupInterval = 100 * time.Millisecond
	var clock atomic.Int64 // the wall clock, from t0
	clock.Store(int64(20 * time.Second))
	now := func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	reg, _ := e.runAlerting(t, func(a *Aggregator) { a.now = now })
	hourRuns := func() uint64 {
		h, err := e.store.RollupStats(context.Background(), store.Hour, "api", t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return h.Runs
	}
	for i := range 10 {
		e.produce(t, record(t, result("api", i, true)))
	}
	poll(t, "10 results committed", func() (bool, string) { return e.committed(t) == 10, fmt.Sprint(e.committed(t)) })
	// Results keep coming every 1.5 s of the clock for 15 s (more than the
	// 10 s hours once waited), still in the minute.
	for i := 10; i < 20; i++ {
		clock.Add(int64(1500 * time.Millisecond))
		e.produce(t, record(t, result("api", i, true)))
		poll(t, "the result committed", func() (bool, string) { return e.committed(t) == int64(i+1), fmt.Sprint(e.committed(t)) })
	}
	if n, runs := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_rollup_1h"), hourRuns(); n != 0 || runs != 0 {
		t.Fatalf("%v hour rebuilds, the hour counts %d runs; want none while results keep coming in the current minute", n, runs)
	}
	// Nothing more comes for 3 s: the hour and day are rebuilt.
	clock.Add(int64(3 * time.Second))
	poll(t, "the hour and day rebuilt once results paused", func() (bool, string) {
		d, err := e.store.RollupStats(context.Background(), store.Day, "api", embeddedtest.Day(), embeddedtest.Day().Add(24*time.Hour))
		return err == nil && hourRuns() == 20 && d.Runs == 20, fmt.Sprint(hourRuns(), d.Runs, err)
	})
}

// A crash after results are stored and before their rollups are rebuilt
// loses nothing: their offsets were not committed (they wait for the
// rollups), so the restarted aggregator reads them again, and their buckets
// are rebuilt, each result counted once.
func TestCrashBeforeTheRollupsLosesNothing(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.produce(t, record(t, result("api", i, i < 10)))
	}
	crash := errors.New("crash before the rollups")
	first := e.startWith(t, func(a *Aggregator) { a.beforeRollups = func() error { return crash } })
	if err := <-first; !errors.Is(err, crash) {
		t.Fatalf("first aggregator: %v", err)
	}
	m, err := e.store.MinuteStats(context.Background(), "api", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st := e.stats(t, "api"); st.Samples == 0 || m.Runs != 0 || e.committed(t) != 0 {
		t.Fatalf("after the crash: %d results stored, %d rolled up, %d committed; want some, none, none", st.Samples, m.Runs, e.committed(t))
	}
	e.start(t, nil)
	poll(t, "the minute rollup to count the 20 results once", func() (bool, string) {
		m, err := e.store.MinuteStats(context.Background(), "api", t0, t0.Add(time.Minute))
		return err == nil && m.Runs == 20 && m.Successes == 10 && e.committed(t) == 20, fmt.Sprintf("%+v %v %d", m, err, e.committed(t))
	})
	if a := e.alerts(t); len(a) != 1 || a[0].State != "down" {
		t.Fatalf("alerts %+v, want one down", a)
	}
}

// backlog produces 100 results each of three checks (one per partition),
// all there before the aggregator starts, and returns what the hour and
// minute rollups of those checks count.
func backlog(t *testing.T, e *env) (hourRuns, minuteRuns func() uint64) {
	t.Helper()
	checks := []string{"api", "web", "db"}
	var recs []*kgo.Record
	for i := range 100 {
		for _, c := range checks {
			recs = append(recs, record(t, result(c, i, i%7 != 0)))
		}
	}
	e.produce(t, recs...)
	runs := func(r store.Resolution, from, to time.Time) uint64 {
		var n uint64
		for _, c := range checks {
			st, err := e.store.RollupStats(context.Background(), r, c, from, to)
			if err != nil {
				t.Fatal(err)
			}
			n += st.Runs
		}
		return n
	}
	return func() uint64 { return runs(store.Hour, t0, t0.Add(time.Hour)) },
		func() uint64 { return runs(store.Minute, t0, t0.Add(time.Hour)) }
}

// In a backlog the hours and days are rebuilt once when it ends, not at
// every flush (each re-reading the hour's minutes so far and the day's
// hours), and each partition's newest minute waits for the next flush, so
// that a minute is rebuilt about once; the rollups count every result once.
func TestBacklogRebuildsHoursAndDaysOnce(t *testing.T) {
	e := newEnv(t)
	e.cfg.BatchMaxRecords = 10
	hourRuns, minuteRuns := backlog(t, e)
	reg, _ := e.runAlerting(t, nil)
	poll(t, "300 results committed, in the minutes, the hours and the day", func() (bool, string) {
		d, err := e.store.RollupStats(context.Background(), store.Day, "api", embeddedtest.Day(), embeddedtest.Day().Add(24*time.Hour))
		return err == nil && e.committed(t) == 300 && minuteRuns() == 300 && hourRuns() == 300 && d.Runs == 100,
			fmt.Sprint(e.committed(t), " committed, ", minuteRuns(), " ", hourRuns(), " ", d.Runs, err)
	})
	minutes := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_rollup_1m")
	hours := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_rollup_1h")
	days := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_rollup_1d")
	// At most 50 rows a flush: 6 flushes or more, and before, as many
	// rebuilds of each table; the results cover two minutes.
	if minutes > 5 || hours > 2 || days > 2 {
		t.Fatalf("%v minute, %v hour and %v day rebuilds; want at most 5 and the hours and days once or twice", minutes, hours, days)
	}
}

// The offsets of a backlog's flushes wait for their hours and days: a
// crash before those are rebuilt has committed nothing they lack, and the
// restarted aggregator reads those results again and rebuilds them, each
// counted once.
func TestCrashInABacklogBeforeItsHoursLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.cfg.BatchMaxRecords = 10
	hourRuns, minuteRuns := backlog(t, e)
	crash := errors.New("crash in a backlog")
	var flushes atomic.Int32
	var a *Aggregator
	first := e.startWith(t, func(agg *Aggregator) {
		a = agg
		a.afterWrite = func() error {
			if flushes.Add(1) >= 3 && a.coarse.holding() {
				return crash
			}
			return nil
		}
	})
	if err := <-first; !errors.Is(err, crash) {
		t.Fatalf("first aggregator: %v", err)
	}
	if c, h, stored := uint64(e.committed(t)), hourRuns(), e.stats(t, "api").Samples+e.stats(t, "web").Samples+e.stats(t, "db").Samples; c > h || uint64(stored) <= c {
		t.Fatalf("after the crash: %d committed, %d in the hours, %d stored; want results stored and not committed, and nothing committed the hours lack", c, h, stored)
	}
	e.start(t, nil)
	poll(t, "the 300 results committed and counted once in the minutes and hours", func() (bool, string) {
		return e.committed(t) == 300 && minuteRuns() == 300 && hourRuns() == 300, fmt.Sprint(e.committed(t), minuteRuns(), hourRuns())
	})
}
