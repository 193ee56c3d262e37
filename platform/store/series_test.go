package store_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// A series is the same from the rollups and from the raw rows, which Series
// reads for a check this sparse: each point's counts, status and class
// counts, sums and maxima exactly (up to float rounding), percentiles
// within 1 %, and its runs and successes are what the results of its step
// add up to (every result once, although some were delivered twice).
func TestSeriesFromTheRawRowsEqualsTheRollups(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	rng := rand.New(rand.NewPCG(16, 2))
	to := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	from := to.Add(-5 * time.Hour)
	rows := generate(rng, "api", []string{"eu", "us"}, from.Add(-time.Hour), to, 41*time.Second)
	load(t, s, rows, 300, rng)
	for _, step := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour} {
		q := store.SeriesQuery{CheckID: "api", From: from, To: to, Step: step}
		rolled, err := store.SeriesFromRollups(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.SeriesFromRaw(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Series(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := map[time.Time][2]uint64{}
		for _, r := range dedup(rows) {
			if at := r.ScheduledAt.Truncate(step); !at.Before(from.Truncate(step)) && r.ScheduledAt.Before(to) && r.FailureClass != store.OverloadClass {
				v := want[at]
				v[0]++
				if r.Success {
					v[1]++
				}
				want[at] = v
			}
		}
		if len(rolled) != len(want) || len(raw) != len(want) || len(got) != len(want) {
			t.Fatalf("step %s: %d points from the rollups, %d raw, %d from Series; %d steps with results", step, len(rolled), len(raw), len(got), len(want))
		}
		for i, r := range rolled {
			for _, other := range []store.SeriesPoint{raw[i], got[i]} {
				a, b := r.Summary(), other.Summary()
				if !r.At.Equal(other.At) || len(diffStats(a, b)) > 0 {
					t.Errorf("step %s, %s: rollups and raw differ: %v", step, r.At, diffStats(a, b))
				}
				if math.Abs(a.Response.P95-b.Response.P95) > 0.01*b.Response.P95 {
					t.Errorf("step %s, %s: p95 %v, raw %v", step, r.At, a.Response.P95, b.Response.P95)
				}
			}
			if w := want[r.At]; r.Runs != w[0] || r.Successes != w[1] {
				t.Errorf("step %s, %s: %d runs, %d successes; the results: %v", step, r.At, r.Runs, r.Successes, w)
			}
		}
	}
}

// A 30-day chart of a sparse check reaches back before the raw rows surely
// kept: its first steps come from the rollups and the rest from the raw
// rows, and together they are the rollups' answer.
func TestSeriesOfThirtyDaysFromRollupsAndRawRowsEqualsTheRollups(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	rng := rand.New(rand.NewPCG(30, 1))
	to := time.Now().UTC().Truncate(time.Millisecond)
	from := to.Add(-30 * 24 * time.Hour)
	// From 10 minutes after the 30 days' start: the raw rows' TTL keeps them.
	rows := generate(rng, "api", []string{"eu", "us"}, from.Add(10*time.Minute), to, 10*time.Minute)
	load(t, s, rows, 1000, rng)
	for _, step := range []time.Duration{time.Hour, 24 * time.Hour} {
		q := store.SeriesQuery{CheckID: "api", From: from, To: to, Step: step}
		rolled, err := store.SeriesFromRollups(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Series(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var runs, want uint64
		for _, p := range got {
			runs += p.Runs
		}
		for _, r := range dedup(rows) {
			if r.FailureClass != store.OverloadClass {
				want++
			}
		}
		if len(got) != len(rolled) || runs != want {
			t.Fatalf("step %s: %d points holding %d runs, the rollups %d points; %d runs stored", step, len(got), runs, len(rolled), want)
		}
		for i, r := range rolled {
			a, b := r.Summary(), got[i].Summary()
			if !r.At.Equal(got[i].At) || len(diffStats(a, b)) > 0 {
				t.Errorf("step %s, %s (Series: %s): rollups and Series differ: %v", step, r.At, got[i].At, diffStats(a, b))
			}
			if math.Abs(a.Response.P95-b.Response.P95) > 0.01*a.Response.P95 {
				t.Errorf("step %s, %s: p95 %v, the rollups' %v", step, r.At, b.Response.P95, a.Response.P95)
			}
		}
	}
}
