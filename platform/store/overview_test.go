package store_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// overviewFixture stores 30 days of three checks from two locations, every
// 37 minutes and, for the last hour, every 20 seconds: in batches, some rows
// delivered twice, and one result stored again later with another outcome
// (a replay of a changed result: the newer copy counts, as in
// check_results). It returns the checks and the time the results end at.
func overviewFixture(t *testing.T, s *store.Store) ([]string, time.Time) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(16, 1))
	now := time.Now().UTC().Truncate(time.Millisecond)
	checks := []string{"a", "b", "c"}
	var rows []store.ResultRow
	for _, c := range checks {
		// From just inside the raw rows' 30-day TTL: the 30 days' oldest edge.
		rows = append(rows, generate(rng, c, []string{"eu", "us"}, now.Add(-30*24*time.Hour+2*time.Minute), now.Add(-time.Hour), 37*time.Minute)...)
		rows = append(rows, generate(rng, c, []string{"eu", "us"}, now.Add(-time.Hour), now, 20*time.Second)...)
	}
	load(t, s, rows, 2000, rng)
	changed := rows[len(rows)-5]
	changed.Success, changed.HTTPStatus, changed.FailureClass = !changed.Success, 503, "FAILURE_CLASS_HTTP_STATUS"
	changed.DurationMS += 100
	if err := s.InsertResults(ctx, []store.ResultRow{changed}); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildRollups(ctx, []string{changed.CheckID}, changed.ScheduledAt, changed.ScheduledAt); err != nil {
		t.Fatal(err)
	}
	return checks, now
}

// checkOverviewIsRaw asserts the overview's figures of checks at now, read
// from check_results_by_time and the rollups, are the raw rows' (counts and
// maxima exactly, sums up to float rounding, percentiles within the
// sketches' 1 %), and that its recent minutes are too.
func checkOverviewIsRaw(t *testing.T, s *store.Store, checks []string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	raw, err := s.OverviewFromRaw(ctx, checks, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, interval := range []time.Duration{20 * time.Second, 0} { // 0: every rollup level
		got, err := s.Overview(ctx, checks, now, interval)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(checks) || len(raw) != len(checks) {
			t.Fatalf("interval %s: %d checks, raw %d", interval, len(got), len(raw))
		}
		for i, g := range got {
			r := raw[i]
			if g.CheckID != r.CheckID || g.Runs10m != r.Runs10m || g.Successes10m != r.Successes10m || g.Runs24h != r.Runs24h ||
				g.Successes24h != r.Successes24h || g.Runs30d != r.Runs30d || g.Successes30d != r.Successes30d ||
				g.DurationMax24h != r.DurationMax24h || g.DetailRuns24h != r.DetailRuns24h ||
				math.Abs(g.DurationSum24h-r.DurationSum24h) > 1e-6*r.DurationSum24h {
				t.Errorf("interval %s: %+v\nraw %+v", interval, g, r)
			}
			if gp, rp := g.Percentiles24h(), r.Percentiles24h(); math.Abs(gp.P95-rp.P95) > 0.01*rp.P95 || math.Abs(gp.P50-rp.P50) > 0.01*rp.P50 {
				t.Errorf("interval %s: %s percentiles %+v, raw %+v", interval, g.CheckID, gp, rp)
			}
			if r.Runs10m == 0 || r.Runs30d < 2*1100 {
				t.Errorf("%s: the fixture's raw rows: %+v", r.CheckID, r)
			}
		}
	}
	minutes, err := s.RecentMinutes(ctx, checks, now, 30)
	if err != nil {
		t.Fatal(err)
	}
	var runs, successes uint64
	for _, m := range minutes {
		runs, successes = runs+m.Runs, successes+m.Successes
	}
	// The 30 minutes, the one now is in so far included.
	var want, wantOK uint64
	for _, c := range checks {
		st, err := s.Stats(ctx, store.StatsQuery{CheckID: c, From: now.Truncate(time.Minute).Add(-29 * time.Minute), To: now.Add(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK = want+st.Samples, wantOK+st.Successes
	}
	// Every minute has runs of every check, but the one now is in may not yet.
	if len(minutes) < 3*29 || len(minutes) > 3*30 || runs != want || successes != wantOK {
		t.Errorf("recent minutes: %d, %d runs, %d successes; raw %d runs, %d successes", len(minutes), runs, successes, want, wantOK)
	}
}

// The overview reads its raw parts from check_results_by_time (0016): its
// figures stay the raw rows' across redelivered, late and replayed results,
// before and after the engine merges the tables.
func TestOverviewFromTheTimeOrderedRowsEqualsTheRawRows(t *testing.T) {
	s := embeddedtest.Store(t)
	checks, now := overviewFixture(t, s)
	checkOverviewIsRaw(t, s, checks, now)
	for _, table := range []string{"check_results", "check_results_by_time"} {
		if err := s.Backend().Exec(context.Background(), "OPTIMIZE TABLE "+s.Database()+"."+table+" FINAL", nil); err != nil {
			t.Fatal(err)
		}
	}
	checkOverviewIsRaw(t, s, checks, now)
}

// forget16 makes the database as if migration 0016 had not been recorded.
const forget16 = "ALTER TABLE ${db}.schema_migrations DELETE WHERE version = 16 SETTINGS mutations_sync = 2"

// Results stored before migration 0016 are copied into check_results_by_time
// when it is applied, and applying it again (interrupted before it was
// recorded) changes nothing.
func TestCheckResultsByTimeMigrationCopiesStoredResults(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	checks, now := overviewFixture(t, s)
	for _, stmt := range []string{"TRUNCATE TABLE ${db}.check_results_by_time", forget16} {
		if err := s.Backend().Exec(ctx, strings.ReplaceAll(stmt, "${db}", s.Database()), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.RecentMinutes(ctx, checks, now, 30); err != nil || len(got) != 0 {
		t.Fatalf("emptied check_results_by_time: %d minutes, %v", len(got), err)
	}
	for range 2 {
		applied, err := s.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(applied, " ") != "0016_check_results_by_time" {
			t.Fatalf("applied %v", applied)
		}
		checkOverviewIsRaw(t, s, checks, now)
		if err := s.Backend().Exec(ctx, strings.ReplaceAll(forget16, "${db}", s.Database()), nil); err != nil {
			t.Fatal(err)
		}
	}
}
