package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// expectedSLO counts q over rows in Go, independently of the store: every
// result once, runs skipped for overload nowhere, slices epoch-aligned; the
// total of time slices counts each slice once, bad when any check measured
// in it had no success in it.
func expectedSLO(rows []store.ResultRow, q store.SLOQuery) store.SLOResult {
	windows := append([]time.Duration{q.Window}, store.BurnWindows[:]...)
	byCheck := map[string]*store.SLOCounts{}
	type sliceKey struct {
		check string
		n     int64
	}
	slices := map[sliceKey][2]uint64{} // runs, successes
	for _, r := range dedup(rows) {
		if r.FailureClass == store.OverloadClass {
			continue
		}
		if q.Budgeting == store.Timeslices {
			k := sliceKey{r.CheckID, r.ScheduledAt.UnixMilli() / q.Slice.Milliseconds()}
			v := slices[k]
			v[0]++
			if r.Success {
				v[1]++
			}
			slices[k] = v
			continue
		}
		for w, d := range windows {
			from, to := q.SLOSpan(d)
			if r.ScheduledAt.Before(from) || !r.ScheduledAt.Before(to) {
				continue
			}
			c := byCheck[r.CheckID]
			if c == nil {
				c = &store.SLOCounts{CheckID: r.CheckID}
				byCheck[r.CheckID] = c
			}
			e := sloWindow(c, w)
			if r.Success {
				e.Good++
			} else {
				e.Bad++
			}
		}
	}
	var out store.SLOResult
	setBad := map[int64]bool{} // per slice with a measured run of any check: was any check bad
	for k, v := range slices {
		if v[0] > 0 {
			setBad[k.n] = setBad[k.n] || v[1] == 0
		}
	}
	for n, bad := range setBad {
		at := time.UnixMilli(n * q.Slice.Milliseconds())
		for w, d := range windows {
			if from, to := q.SLOSpan(d); !at.Before(from) && at.Before(to) {
				if e := sloWindow(&out.Total, w); bad {
					e.Bad++
				} else {
					e.Good++
				}
			}
		}
	}
	for k, v := range slices {
		at := time.UnixMilli(k.n * q.Slice.Milliseconds())
		for w, d := range windows {
			from, to := q.SLOSpan(d)
			if at.Before(from) || !at.Before(to) {
				continue
			}
			c := byCheck[k.check]
			if c == nil {
				c = &store.SLOCounts{CheckID: k.check}
				byCheck[k.check] = c
			}
			e := sloWindow(c, w)
			if v[1] > 0 {
				e.Good++
			} else {
				e.Bad++
			}
		}
	}
	for _, id := range q.Checks {
		c := byCheck[id]
		if c == nil {
			continue
		}
		out.Checks = append(out.Checks, *c)
		if q.Budgeting == store.Occurrences {
			for w := range len(windows) {
				e, t := sloWindow(c, w), sloWindow(&out.Total, w)
				t.Good, t.Bad = t.Good+e.Good, t.Bad+e.Bad
			}
		}
	}
	return out
}

// sameCounts says whether a and b count the same events, whoever they count.
func sameCounts(a, b store.SLOCounts) bool { return a.Window == b.Window && a.Burn == b.Burn }

func sloWindow(c *store.SLOCounts, w int) *store.SLOEvents {
	if w == 0 {
		return &c.Window
	}
	return &c.Burn[w-1]
}

// sloHistory is four days of two checks: api from three locations every 20 s
// (a tenth failing at random, eu failing for a whole day, and a 45-minute
// outage of every location two hours before now), web from two every 30 s,
// and results after now, which no count may include.
func sloHistory(t *testing.T, now time.Time) []store.ResultRow {
	rng := rand.New(rand.NewPCG(10, 10))
	start := now.Add(-4*24*time.Hour - 37*time.Minute)
	rows := generate(rng, "api", []string{"eu", "us", "ap"}, start, now.Add(3*time.Minute), 20*time.Second)
	rows = append(rows, generate(rng, "web", []string{"eu", "us"}, start, now.Add(3*time.Minute), 30*time.Second)...)
	outage := now.Add(-2 * time.Hour)
	for i := range rows {
		r := &rows[i]
		euDay := r.Location == "eu" && r.ScheduledAt.After(now.Add(-36*time.Hour)) && r.ScheduledAt.Before(now.Add(-12*time.Hour))
		down := r.ScheduledAt.After(outage) && r.ScheduledAt.Before(outage.Add(45*time.Minute))
		if r.CheckID == "api" && (euDay || down) && r.FailureClass != store.OverloadClass {
			r.Success, r.FailureClass, r.HTTPStatus = false, "FAILURE_CLASS_STATUS", 503
		}
	}
	return rows
}

// SLO counts from the rollups equal the raw rows' (SQL) and the rows counted
// in Go, for both budgetings, slices of 1 and 3 minutes, windows longer and
// shorter than the history and every burn window, with now at an odd
// millisecond, redelivered results and results after now.
func TestSLOCountsEqualRaw(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	now := time.Now().UTC().Truncate(time.Hour).Add(-5*time.Hour + 17*time.Minute + 23*time.Second + 500*time.Millisecond)
	rows := sloHistory(t, now)
	load(t, s, rows, 20000, rand.New(rand.NewPCG(1, 2)))
	for _, q := range []store.SLOQuery{
		{Budgeting: store.Occurrences, Window: 2*24*time.Hour + 7*time.Minute + 13*time.Second},
		{Budgeting: store.Occurrences, Window: store.MaxSLOWindow},
		{Budgeting: store.Timeslices, Slice: time.Minute, Window: 2 * 24 * time.Hour},
		{Budgeting: store.Timeslices, Slice: 3 * time.Minute, Window: 30 * 24 * time.Hour},
	} {
		q.Checks, q.Now = []string{"api", "web", "none"}, now
		t.Run(fmt.Sprintf("%s %s %s", q.Budgeting, q.Slice, q.Window), func(t *testing.T) {
			got, err := s.SLOCounts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := s.SLOCountsFromRaw(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want := expectedSLO(rows, q)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(raw, want) {
				t.Fatalf("rollups %+v\nraw     %+v\nwant    %+v", got, raw, want)
			}
			// Not vacuous: api has bad events in the window and in the
			// burn windows covering the outage, and good ones everywhere.
			api, web := got.Checks[0], got.Checks[1]
			if api.Window.Bad == 0 || api.Burn[3].Bad == 0 || api.Burn[4].Bad == 0 || api.Burn[0].Good == 0 {
				t.Fatalf("api counts %+v", api)
			}
			// The total of time slices is not the sum of the checks': the
			// minutes both checks ran in count once.
			if q.Budgeting == store.Timeslices && (got.Total.Window.Good+got.Total.Window.Bad >= api.Window.Good+api.Window.Bad+web.Window.Good+web.Window.Bad ||
				got.Total.Window.Bad < api.Window.Bad || got.Total.Window.Bad < web.Window.Bad) {
				t.Fatalf("time slices over both checks %+v, api %+v, web %+v", got.Total, api, web)
			}
		})
	}
}

// One location failing all day while another succeeds burns budget by
// occurrences (half the results fail) and none by time slices (every minute
// some location succeeded); an outage of every location for 10 minutes is
// 10 bad slices.
func TestSLOBudgetingOccurrencesAgainstTimeslices(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-2 * 24 * time.Hour)
	var rows []store.ResultRow
	outage := day.Add(20 * time.Hour)
	for tick := day; tick.Before(day.Add(24 * time.Hour)); tick = tick.Add(10 * time.Second) {
		for _, loc := range []string{"eu", "us"} {
			ok := loc == "us" && (tick.Before(outage) || !tick.Before(outage.Add(10*time.Minute)))
			r := result("shop", tick, 200, ok, 50)
			r.Location, r.ResultID = loc, loc+tick.String()
			rows = append(rows, r)
		}
	}
	load(t, s, rows, 5000, rand.New(rand.NewPCG(3, 4)))
	now := day.Add(24 * time.Hour)
	q := store.SLOQuery{Checks: []string{"shop"}, Window: 24 * time.Hour, Now: now, Budgeting: store.Occurrences}
	occ, err := s.SLOCounts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	q.Budgeting, q.Slice = store.Timeslices, time.Minute
	ts, err := s.SLOCounts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	perLoc := uint64(24 * 360)
	if w := (store.SLOEvents{Good: perLoc - 60, Bad: perLoc + 60}); len(occ.Checks) != 1 || occ.Checks[0].Window != w || !sameCounts(occ.Total, occ.Checks[0]) {
		t.Fatalf("occurrences %+v, want window %+v", occ, w)
	}
	if w := (store.SLOEvents{Good: 24*60 - 10, Bad: 10}); len(ts.Checks) != 1 || ts.Checks[0].Window != w || !sameCounts(ts.Total, ts.Checks[0]) {
		t.Fatalf("timeslices %+v, want window %+v", ts, w)
	}
	// The last 6 hours hold the outage (20:00–20:10): 360 slices, 10 bad.
	if w := (store.SLOEvents{Good: 350, Bad: 10}); ts.Checks[0].Burn[3] != w {
		t.Fatalf("timeslices over 6h %+v, want %+v", ts.Checks[0].Burn[3], w)
	}
	// The last 5 minutes: every slice good by time slices, half the runs bad by occurrences.
	if w := (store.SLOEvents{Good: 5, Bad: 0}); ts.Checks[0].Burn[0] != w {
		t.Fatalf("timeslices over 5m %+v, want %+v", ts.Checks[0].Burn[0], w)
	}
	if w := (store.SLOEvents{Good: 30, Bad: 30}); occ.Checks[0].Burn[0] != w {
		t.Fatalf("occurrences over 5m %+v, want %+v", occ.Checks[0].Burn[0], w)
	}
}

// A query the store cannot answer exactly is refused, naming the figure.
func TestSLOQueryRefusesBadShapes(t *testing.T) {
	s := embeddedtest.Store(t)
	for q, want := range map[*store.SLOQuery]string{
		{Budgeting: "uptime", Window: time.Hour}:                                  `slo budgeting "uptime": want occurrences or timeslices`,
		{Budgeting: store.Occurrences, Window: 91 * 24 * time.Hour}:               "slo window 2184h0m0s: want more than 0 and at most 2160h0m0s",
		{Budgeting: store.Timeslices, Window: time.Hour, Slice: 90 * time.Second}: "slo slice 1m30s: want whole minutes from 1m to 5m",
	} {
		q.Checks, q.Now = []string{"x"}, time.Now()
		if _, err := s.SLOCounts(context.Background(), *q); err == nil || err.Error() != want {
			t.Errorf("%+v: %v, want %s", *q, err, want)
		}
	}
}
