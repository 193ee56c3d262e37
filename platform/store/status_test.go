package store_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// The daily uptime a status page shows comes from the day rollups and equals
// what the raw rows of each UTC day add up to, every location together,
// skipped runs left out, delivered twice or not; a day without a run is
// absent (no data), not 100 %, and a check not asked for is not read.
func TestDailyUptimeEqualsRawRows(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	rng := rand.New(rand.NewPCG(10, 90))
	first := embeddedtest.Day().AddDate(0, 0, -9)
	gap := first.AddDate(0, 0, 4) // a day the check was not probed at all
	var rows []store.ResultRow
	for _, r := range append(generate(rng, "shop", []string{"eu", "us"}, first.Add(3*time.Hour), embeddedtest.Day().Add(20*time.Hour), 7*time.Minute),
		generate(rng, "other", []string{"eu"}, first, embeddedtest.Day(), time.Hour)...) {
		if !r.ScheduledAt.Before(gap) && r.ScheduledAt.Before(gap.AddDate(0, 0, 1)) {
			continue
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(a, b store.ResultRow) int { return a.ScheduledAt.Compare(b.ScheduledAt) })
	load(t, s, rows, 500, rng)

	// Unaligned bounds: every day they overlap.
	from, to := first.Add(-5*time.Hour), embeddedtest.Day().Add(13*time.Hour)
	got, err := s.DailyUptime(ctx, []string{"shop"}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.DailyUptimeFromRaw(ctx, []string{"shop"}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	// Independently of the store, in Go.
	type day struct{ runs, successes uint64 }
	want := map[time.Time]*day{}
	var days []time.Time
	for _, r := range rows {
		d := r.ScheduledAt.UTC().Truncate(24 * time.Hour)
		if r.CheckID != "shop" || r.FailureClass == store.OverloadClass || d.Before(from.Truncate(24*time.Hour)) || !d.Before(to) {
			continue
		}
		if want[d] == nil {
			want[d] = &day{}
			days = append(days, d)
		}
		want[d].runs++
		if r.Success {
			want[d].successes++
		}
	}
	slices.SortFunc(days, time.Time.Compare)
	if len(days) != 9 { // ten days from first to Day(), less the gap
		t.Fatalf("fixture has %d days of shop", len(days))
	}
	if len(got) != len(days) || len(raw) != len(days) {
		t.Fatalf("%d rollup days, %d raw days, want %d: %+v", len(got), len(raw), len(days), got)
	}
	for i, d := range days {
		g, r := got[i], raw[i]
		if g.CheckID != "shop" || !g.Day.Equal(d) || g.Runs != want[d].runs || g.Successes != want[d].successes {
			t.Errorf("day %d: rollups %+v, want %s %d/%d", i, g, d.Format(time.DateOnly), want[d].successes, want[d].runs)
		}
		if g != r {
			t.Errorf("day %d: rollups %+v, raw rows %+v", i, g, r)
		}
		if g.Day.Equal(gap) {
			t.Errorf("the day without runs is there: %+v", g)
		}
	}
	// Both checks at once, ordered by check then day.
	both, err := s.DailyUptime(ctx, []string{"shop", "other"}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != len(days)+8 || both[0].CheckID != "other" || both[len(both)-1].CheckID != "shop" {
		t.Errorf("two checks: %d days, %+v … %+v", len(both), both[0], both[len(both)-1])
	}
	if none, err := s.DailyUptime(ctx, nil, from, to); err != nil || len(none) != 0 {
		t.Errorf("no checks: %v %v", none, err)
	}
}

// Today's figures do not wait for the day rollup, which the aggregator
// rebuilds for a live hour only once a minute: results whose minutes alone
// are rebuilt are in today's bar.
func TestDailyUptimeCountsTodayFromTheMinutes(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	now := time.Now().UTC()
	minute := now.Truncate(time.Minute)
	rows := []store.ResultRow{
		result("api", minute, 200, true, 10),
		result("api", minute.Add(time.Second), 500, false, 20),
		result("api", minute.Add(2*time.Second), 200, true, 30),
	}
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildMinutes(ctx, []string{"api"}, minute, minute.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := s.DailyUptime(ctx, []string{"api"}, now.Add(-24*time.Hour), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Day.Equal(minute.Truncate(24*time.Hour)) || got[0].Runs != 3 || got[0].Successes != 2 {
		t.Fatalf("daily uptime %+v, want today with 3 runs, 2 successes", got)
	}
}
