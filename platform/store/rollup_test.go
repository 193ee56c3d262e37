package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// The minute rollups count every result once however often it was delivered
// and however often they are rebuilt, and their percentiles stay within the
// sketch's 1 % relative accuracy of the exact ones.
func TestMinuteRollupsAreExactUnderDuplicatesAndRebuilds(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(10 * time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []store.ResultRow
	var durations []float64
	ok := 0
	for i := range 600 { // ten minutes at 1 s
		d := 5 + rng.ExpFloat64()*80 // a long-tailed latency
		r := result("api", t0.Add(time.Duration(i)*time.Second), 200, true, d)
		if i%7 == 0 {
			r.HTTPStatus, r.Success, r.FailureClass = 503, false, "FAILURE_CLASS_STATUS"
		} else {
			ok++
		}
		rows = append(rows, r)
		durations = append(durations, d)
	}
	// Delivered twice, with part of it a third time (a replay).
	for _, batch := range [][]store.ResultRow{rows, rows, rows[100:250]} {
		if err := s.InsertResults(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := s.RebuildRollups(ctx, []string{"api"}, batch[0].ScheduledAt, batch[len(batch)-1].ScheduledAt); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.MinuteStats(ctx, "api", t0, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Runs != 600 || got.Successes != uint64(ok) || got.Statuses[503] != 600-uint64(ok) || got.Statuses[200] != uint64(ok) ||
		got.Classes["FAILURE_CLASS_STATUS"] != 600-uint64(ok) {
		t.Fatalf("rollup counts %+v, want 600 runs, %d successes", got, ok)
	}
	raw, err := s.Stats(ctx, store.StatsQuery{CheckID: "api", From: t0, To: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.DurationSum/float64(got.Runs)-raw.AvgResponseMS) > 1e-9 || got.DurationMax != raw.MaxResponseMS {
		t.Fatalf("avg/max %v/%v, raw %v/%v", got.DurationSum/float64(got.Runs), got.DurationMax, raw.AvgResponseMS, raw.MaxResponseMS)
	}
	sort.Float64s(durations)
	for i, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		exact := durations[int(math.Ceil(q*float64(len(durations))))-1]
		if rel := math.Abs(got.Quantiles[i]-exact) / exact; rel > 0.01 {
			t.Errorf("p%v = %v, exact %v: relative error %.4f over 1 %%", q*100, got.Quantiles[i], exact, rel)
		}
	}
	// Three of the ten minutes only: the sums split exactly.
	part, err := s.MinuteStats(ctx, "api", t0.Add(2*time.Minute), t0.Add(5*time.Minute))
	if err != nil || part.Runs != 180 {
		t.Fatalf("three minutes: %+v %v", part, err)
	}
	if _, err := s.MinuteStats(ctx, "api", t0.Add(time.Second), t0.Add(time.Minute)); err == nil {
		t.Fatal("a window that is not whole minutes was accepted")
	}
	// The hour and the day merged from the minutes hold the same totals and sketches.
	for _, r := range []struct {
		res  store.Resolution
		from time.Time
		size time.Duration
	}{{store.Hour, t0, time.Hour}, {store.Day, t0.Truncate(24 * time.Hour), 24 * time.Hour}} {
		c, err := s.RollupStats(ctx, r.res, "api", r.from, r.from.Add(r.size))
		if err != nil {
			t.Fatal(err)
		}
		if c.Runs != got.Runs || c.Successes != got.Successes || c.DurationSum != got.DurationSum || c.DurationMax != got.DurationMax ||
			c.Statuses[503] != got.Statuses[503] || fmt.Sprint(c.Quantiles) != fmt.Sprint(got.Quantiles) {
			t.Fatalf("coarser rollup %+v differs from the minutes %+v", c, got)
		}
	}
}
