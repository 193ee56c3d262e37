package aggregator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
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
	inserts := counter(t, reg, "picket_aggregator_insert_statements_total", "table", "check_results")
	for _, table := range []string{"check_rollup_1m", "check_rollup_1h", "check_rollup_1d"} {
		rebuilds := counter(t, reg, "picket_aggregator_insert_statements_total", "table", table)
		// One per rollup interval elapsed, and one more for a cut between.
		if limit := float64(elapsed/e.cfg.RollupInterval) + 2; rebuilds < 1 || rebuilds > limit || rebuilds >= inserts {
			t.Errorf("%s: %v insert statements in %v (%v results inserts), want 1..%v", table, rebuilds, elapsed, inserts, limit)
		}
	}
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
