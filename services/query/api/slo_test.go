package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
)

// sloNow is on a whole minute, so that the burn windows hold whole slices.
var sloNow = embeddedtest.Day().Add(12 * time.Hour)

var testSLOs = []SLO{
	{Name: "payments", Labels: []string{"team:payments"}, Objective: 0.99, Window: "48h"},
	{Name: "shop-minutes", Checks: []string{"shop", "web"}, Objective: 0.999, Window: "2d", Budgeting: "timeslices"},
	{Name: "web", Checks: []string{"web"}, Objective: 0.9},
}

// sloServer serves testSLOs over four days of two checks every 10 s: shop
// (team:payments) from eu, which always fails, and us, which fails only
// from 20 to 10 minutes before now; web (team:web) from eu, always up.
func sloServer(t *testing.T) (*httptest.Server, *store.Store) {
	ctx := context.Background()
	st := embeddedtest.Store(t)
	var rows []store.ResultRow
	start := sloNow.Add(-4 * 24 * time.Hour)
	outage := sloNow.Add(-20 * time.Minute)
	for tick := start; tick.Before(sloNow); tick = tick.Add(10 * time.Second) {
		for _, r := range []struct {
			check, loc, team string
			ok               bool
		}{
			{"shop", "eu", "payments", false},
			{"shop", "us", "payments", tick.Before(outage) || !tick.Before(outage.Add(10*time.Minute))},
			{"web", "eu", "web", true},
		} {
			rows = append(rows, store.ResultRow{ResultID: events.ResultID(r.check, r.loc, tick), CheckID: r.check,
				CheckName: r.check, CheckType: "http", Location: r.loc, ScheduledAt: tick, StartedAt: tick, DurationMS: 5,
				HTTPStatus: map[bool]uint16{true: 200, false: 503}[r.ok], Success: r.ok, IntervalMS: 10000,
				Labels: map[string]string{"team": r.team}})
		}
	}
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"shop", "web"}, start, sloNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	a.now = func() time.Time { return sloNow }
	if err := a.SetSLOs(testSLOs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func near(got *float64, want float64) bool {
	return got != nil && math.Abs(*got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// Budgeting by occurrences burns budget while one location fails and another
// succeeds; by time slices only the minutes in which no location succeeded
// do. The figures and burn rates are those of the documented formulas at the
// documented windows.
func TestSLOBurnRatesAndBudgets(t *testing.T) {
	srv, _ := sloServer(t)
	var s SLOJSON
	get(t, srv.URL+"/api/v1/slos/payments", 200, &s)
	if s.Budgeting != "occurrences" || s.WindowSeconds != 48*3600 || !s.From.Equal(sloNow.Add(-48*time.Hour)) ||
		!s.To.Equal(sloNow) || len(s.Checks) != 1 || s.Checks[0].CheckID != "shop" {
		t.Fatalf("payments: %+v", s)
	}
	// 48 h × 360 results from each of two locations; eu's all bad, us' 60.
	per := uint64(48 * 360)
	f := s.Total
	b := f.ErrorBudget
	if f.Good != per-60 || f.Bad != per+60 || !near(f.Achieved, float64(per-60)/float64(2*per)) || b.Unit != "events" ||
		!near(&b.Total, 0.01*float64(2*per)) || b.Used != float64(per+60) || !near(&b.Remaining, 0.01*float64(2*per)-float64(per+60)) ||
		!near(b.UsedFraction, float64(per+60)/(0.01*float64(2*per))) || !near(b.RemainingFraction, 1-float64(per+60)/(0.01*float64(2*per))) {
		t.Fatalf("payments figures %+v, budget %+v", f, b)
	}
	// 5 m: eu 30 bad, us 30 good; 30 m: 180 + 60 of 360 bad.
	r := f.BurnRates
	if !near(r.M5, 0.5/0.01) || !near(r.M30, 240.0/360/0.01) || !near(r.H1, 420.0/720/0.01) ||
		!near(r.H6, (2160+60)/4320.0/0.01) || !near(r.D3, (25920+60)/51840.0/0.01) {
		t.Fatalf("payments burn rates 5m %v 30m %v 1h %v 6h %v 3d %v", *r.M5, *r.M30, *r.H1, *r.H6, *r.D3)
	}

	get(t, srv.URL+"/api/v1/slos/shop-minutes", 200, &s)
	if s.Budgeting != "timeslices" || s.SliceSeconds != 60 || !s.From.Equal(sloNow.Add(-48*time.Hour)) ||
		!s.To.Equal(sloNow.Add(time.Minute)) || len(s.Checks) != 2 {
		t.Fatalf("shop-minutes: %+v", s)
	}
	shop, web := s.Checks[0], s.Checks[1]
	b = shop.ErrorBudget
	// 2,880 minutes with results (none from now on); 10 bad.
	if shop.CheckID != "shop" || shop.Good != 2870 || shop.Bad != 10 || !near(shop.Achieved, 2870.0/2880) || b.Unit != "minutes" ||
		!near(&b.Total, 2.88) || b.Used != 10 || !near(&b.Remaining, -7.12) || !near(b.UsedFraction, 10/2.88) {
		t.Fatalf("shop by minutes %+v, budget %+v", shop, b)
	}
	r = shop.BurnRates
	if !near(r.M5, 0) || !near(r.M30, 10.0/30/0.001) || !near(r.H1, 10.0/60/0.001) || !near(r.H6, 10.0/360/0.001) ||
		!near(r.D3, 10.0/4320/0.001) {
		t.Fatalf("shop by minutes, burn rates 5m %v 30m %v 1h %v 6h %v 3d %v", *r.M5, *r.M30, *r.H1, *r.H6, *r.D3)
	}
	// The total counts each minute once: 2,880 minutes, bad when shop or
	// web was (10), not 5,760 check-minutes.
	if web.CheckID != "web" || web.Good != 2880 || web.Bad != 0 || !near(web.Achieved, 1) || !near(web.BurnRates.M30, 0) ||
		s.Total.Good != 2870 || s.Total.Bad != 10 || !near(s.Total.Achieved, 2870.0/2880) || !near(&s.Total.ErrorBudget.Total, 2.88) ||
		!near(s.Total.BurnRates.M30, 10.0/30/0.001) || !near(s.Total.BurnRates.M5, 0) {
		t.Fatalf("web by minutes %+v, total %+v", web, s.Total)
	}
}

// Every figure served equals the same figure derived from the raw rows'
// counts (SQL over check_results only), for every SLO.
func TestSLOFiguresEqualRaw(t *testing.T) {
	srv, st := sloServer(t)
	var all SLOsJSON
	get(t, srv.URL+"/api/v1/slos", 200, &all)
	if len(all.SLOs) != len(testSLOs) {
		t.Fatalf("%d SLOs, want %d", len(all.SLOs), len(testSLOs))
	}
	for i, got := range all.SLOs {
		s, window := testSLOs[i].withDefaults()
		if got.Name != s.Name {
			t.Fatalf("SLO %d is %s, want %s", i, got.Name, s.Name)
		}
		var checks []string
		for _, c := range got.Checks {
			checks = append(checks, c.CheckID)
		}
		q := store.SLOQuery{Checks: checks, Budgeting: store.Budgeting(s.Budgeting), Slice: s.Slice, Window: window, Now: sloNow}
		raw, err := st.SLOCountsFromRaw(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw.Checks) != len(got.Checks) {
			t.Fatalf("%s: %d checks, raw rows %d", s.Name, len(got.Checks), len(raw.Checks))
		}
		for j, c := range raw.Checks {
			same(t, s, got.Checks[j], c)
		}
		same(t, s, got.Total, raw.Total)
	}
	if all.SLOs[0].Checks[0].CheckID != "shop" || len(all.SLOs[0].Checks) != 1 || len(all.SLOs[2].Checks) != 1 {
		t.Fatalf("covered checks: %+v", all.SLOs)
	}
}

// same compares served figures with those derived here from counts.
func same(t *testing.T, s SLO, got SLOFiguresJSON, c store.SLOCounts) {
	t.Helper()
	scale := 1.0
	if s.Budgeting == "timeslices" {
		scale = s.Slice.Minutes()
	}
	n := float64(c.Window.Good + c.Window.Bad)
	total, used := (1-s.Objective)*n*scale, float64(c.Window.Bad)*scale
	ratio := func(e store.SLOEvents) float64 { return float64(e.Bad) / float64(e.Good+e.Bad) / (1 - s.Objective) }
	b, r := got.ErrorBudget, got.BurnRates
	if got.CheckID != c.CheckID || got.Good != c.Window.Good || got.Bad != c.Window.Bad ||
		!near(got.Achieved, float64(c.Window.Good)/n) || !near(&b.Total, total) || !near(&b.Used, used) ||
		!near(&b.Remaining, total-used) || !near(b.UsedFraction, used/total) || !near(b.RemainingFraction, 1-used/total) ||
		!near(r.M5, ratio(c.Burn[0])) || !near(r.M30, ratio(c.Burn[1])) || !near(r.H1, ratio(c.Burn[2])) ||
		!near(r.H6, ratio(c.Burn[3])) || !near(r.D3, ratio(c.Burn[4])) {
		t.Errorf("%s %s: served %+v %+v, raw counts %+v", s.Name, c.CheckID, got, b, c)
	}
}

// A check's page lists the SLOs covering it (by id or by its labels), each
// with the check's own figures; unknown SLOs and checks are 404 problems; a
// known check no SLO covers has none.
func TestCheckSLOsAndNotFound(t *testing.T) {
	srv, st := sloServer(t)
	var list SLOsJSON
	get(t, srv.URL+"/api/v1/checks/shop/slos", 200, &list)
	if len(list.SLOs) != 2 || list.SLOs[0].Name != "payments" || list.SLOs[1].Name != "shop-minutes" ||
		len(list.SLOs[1].Checks) != 1 || list.SLOs[1].Checks[0].CheckID != "shop" || list.SLOs[1].Total.Good != 2870 {
		t.Fatalf("shop's SLOs %+v", list)
	}
	get(t, srv.URL+"/api/v1/checks/web/slos", 200, &list)
	if len(list.SLOs) != 2 || list.SLOs[0].Name != "shop-minutes" || list.SLOs[1].Name != "web" ||
		list.SLOs[1].Checks[0].Good != 4*24*360 || !near(list.SLOs[1].Checks[0].Achieved, 1) {
		t.Fatalf("web's SLOs %+v", list)
	}
	other := row("db", "eu", time.Minute, 200, 1)
	if err := st.InsertResults(context.Background(), []store.ResultRow{other}); err != nil {
		t.Fatal(err)
	}
	get(t, srv.URL+"/api/v1/checks/db/slos", 200, &list)
	if len(list.SLOs) != 0 {
		t.Fatalf("db's SLOs %+v", list)
	}
	// A second check selected by the same label: one check's page shows the
	// SLO's total over both, as /api/v1/slos/{name} does.
	tick := sloNow.Add(-time.Minute)
	pay2 := store.ResultRow{ResultID: events.ResultID("pay2", "eu", tick), CheckID: "pay2", CheckName: "pay2", CheckType: "http",
		Location: "eu", ScheduledAt: tick, StartedAt: tick, DurationMS: 5, HTTPStatus: 503, IntervalMS: 10000,
		Labels: map[string]string{"team": "payments"}}
	if err := st.InsertResults(context.Background(), []store.ResultRow{pay2}); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(context.Background(), []string{"pay2"}, tick, tick.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var whole SLOJSON
	get(t, srv.URL+"/api/v1/slos/payments", 200, &whole)
	get(t, srv.URL+"/api/v1/checks/shop/slos", 200, &list)
	if len(whole.Checks) != 2 || len(list.SLOs) == 0 || list.SLOs[0].Name != "payments" ||
		list.SLOs[0].Total.Good != whole.Total.Good || list.SLOs[0].Total.Bad != whole.Total.Bad || len(list.SLOs[0].Checks) != 1 {
		t.Fatalf("payments from shop's page: total %+v (%d checks shown), the SLO's own: %+v over %d checks",
			list.SLOs[0].Total, len(list.SLOs[0].Checks), whole.Total, len(whole.Checks))
	}
	var p Problem
	if get(t, srv.URL+"/api/v1/slos/nope", 404, &p); p.Title != "Unknown SLO" || p.Detail != `no SLO is named "nope" (see /api/v1/slos)` {
		t.Fatalf("unknown SLO: %+v", p)
	}
	if get(t, srv.URL+"/api/v1/checks/nope/slos", 404, &p); p.Title != "Unknown check" {
		t.Fatalf("unknown check: %+v", p)
	}
}

func TestValidateSLOsNamesTheKey(t *testing.T) {
	ok := SLO{Name: "a", Checks: []string{"x"}, Objective: 0.99}
	with := func(f func(*SLO)) []SLO { s := ok; f(&s); return []SLO{ok, s} }
	for want, slos := range map[string][]SLO{
		`slos[1].name: "a b": want 1 to 100 letters, digits, '.', '_' or '-'`:      with(func(s *SLO) { s.Name = "a b" }),
		`slos[1].name: "a" is already the name of slos[0]`:                         with(func(s *SLO) {}),
		"slos[1]: select checks with checks, labels or both":                       with(func(s *SLO) { s.Name, s.Checks = "b", nil }),
		"slos[1].objective: 1: want a fraction above 0 and below 1, like 0.999":    with(func(s *SLO) { s.Name, s.Objective = "b", 1 }),
		"slos[1].objective: 99.9: want a fraction above 0 and below 1, like 0.999": with(func(s *SLO) { s.Name, s.Objective = "b", 99.9 }),
		`slos[1].window: "91d": want whole days or a Go duration (30d, 720h), at most 90d (the minute rollups' retention)`: with(func(s *SLO) {
			s.Name, s.Window = "b", "91d"
		}),
		`slos[1].window: "1mo": want whole days or a Go duration (30d, 720h), at most 90d (the minute rollups' retention)`: with(func(s *SLO) {
			s.Name, s.Window = "b", "1mo"
		}),
		`slos[1].budgeting: "calendar": want occurrences or timeslices`:                   with(func(s *SLO) { s.Name, s.Budgeting = "b", "calendar" }),
		"slos[1].slice: 30s: want whole minutes from 1m to 5m (the shortest burn window)": with(func(s *SLO) { s.Name, s.Slice = "b", 30*time.Second }),
		`slos[1].labels[0]: "team": want key:value, like team:payments`:                   with(func(s *SLO) { s.Name, s.Labels = "b", []string{"team"} }),
		`slos[1].labels: label "team:b": team is already required to be "a"`:              with(func(s *SLO) { s.Name, s.Labels = "b", []string{"team:a", "team:b"} }),
		"slos[1].checks[0]: must not be empty":                                            with(func(s *SLO) { s.Name, s.Checks = "b", []string{""} }),
	} {
		if err := ValidateSLOs("slos", slos); err == nil || err.Error() != want {
			t.Errorf("%+v: %v\nwant %s", slos[1], err, want)
		}
	}
	if err := ValidateSLOs("slos", []SLO{ok, {Name: "b", Labels: []string{"team:a"}, Objective: 0.5, Window: "2160h", Budgeting: "timeslices", Slice: 5 * time.Minute}}); err != nil {
		t.Error(err)
	}
}

// silentFixture is a check, legacy (team:payments), heard from for six
// hours 45 days before the API's now and never since — beyond the raw rows'
// 30 days, within the rollups' 90 — failing its first 10 minutes, and
// another team's, other, as silent. Both are defined (their definitions as
// last published): what finds them by label. The rows are stored at
// embeddedtest.Day() (ClickHouse drops rows already past their TTL); the
// API's clock is 45 days on.
func silentFixture(t *testing.T) (*API, *store.Store, time.Time) {
	ctx := context.Background()
	st := embeddedtest.Store(t)
	start := embeddedtest.Day()
	var rows []store.ResultRow
	for tick := start; tick.Before(start.Add(6 * time.Hour)); tick = tick.Add(time.Minute) {
		for _, c := range []struct{ id, team string }{{"legacy", "payments"}, {"other", "web"}} {
			ok := !tick.Before(start.Add(10 * time.Minute))
			rows = append(rows, store.ResultRow{ResultID: events.ResultID(c.id, "eu", tick), CheckID: c.id, CheckName: c.id,
				CheckType: "http", Location: "eu", ScheduledAt: tick, StartedAt: tick, DurationMS: 5,
				HTTPStatus: map[bool]uint16{true: 200, false: 503}[ok], Success: ok, IntervalMS: 60000,
				Labels: map[string]string{"team": c.team}})
		}
	}
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"legacy", "other"}, start, start.Add(6*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	now := start.Add(45*24*time.Hour + 3*time.Hour)
	a.now = func() time.Time { return now }
	a.SetDefinitions(DefinitionMap{
		"legacy": {Name: "Legacy API", Labels: map[string]string{"team": "payments"}},
		"other":  {Name: "Other", Labels: map[string]string{"team": "web"}},
	})
	return a, st, now
}

// An SLO over 90 days selecting by label covers a check silent for 45 days
// (found by its definition; its newest result is past the raw rows' 30
// days) and counts its results from the rollups, as the raw rows do.
func TestSLOLabelsSelectACheckSilentBeyondTheRawRows(t *testing.T) {
	a, st, now := silentFixture(t)
	slo := SLO{Name: "payments-90d", Labels: []string{"team:payments"}, Objective: 0.99, Window: "90d"}
	if err := a.SetSLOs([]SLO{slo}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	var got SLOJSON
	get(t, srv.URL+"/api/v1/slos/payments-90d", 200, &got)
	if len(got.Checks) != 1 || got.Checks[0].CheckID != "legacy" || got.Total.Good != 350 || got.Total.Bad != 10 {
		t.Fatalf("payments over 90 days: checks %+v, total %+v; want legacy with 350 good and 10 bad", got.Checks, got.Total)
	}
	_, window := slo.withDefaults()
	raw, err := st.SLOCountsFromRaw(context.Background(), store.SLOQuery{Checks: []string{"legacy"}, Budgeting: store.Occurrences,
		Window: window, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing in the burn windows: no burn rate.
	r := got.Total.BurnRates
	if got.Total.Good != raw.Total.Window.Good || got.Total.Bad != raw.Total.Window.Bad || !near(got.Total.Achieved, 350.0/360) ||
		!near(&got.Total.ErrorBudget.Total, 0.01*360) || r.M5 != nil || r.M30 != nil || r.H1 != nil || r.H6 != nil || r.D3 != nil {
		t.Fatalf("served %+v, raw rows %+v", got.Total, raw.Total)
	}
	var list SLOsJSON
	if get(t, srv.URL+"/api/v1/checks/legacy/slos", 200, &list); len(list.SLOs) != 1 || list.SLOs[0].Total.Good != 350 {
		t.Fatalf("legacy's SLOs %+v", list)
	}
}

// A status page selecting by label shows a check silent for 45 days, found
// by its definition: stale, named as defined, with the daily bars of the
// day it ran.
func TestStatusPageShowsACheckSilentBeyondTheRawRows(t *testing.T) {
	a, _, now := silentFixture(t)
	a.SetStatusPages(map[string]StatusPage{"pay": {Labels: map[string]string{"team": "payments"}}, "other": {Checks: []string{"other"}}})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	var p StatusPageJSON
	get(t, srv.URL+"/api/v1/status/pay", 200, &p)
	if len(p.Checks) != 1 {
		t.Fatalf("checks %+v, want legacy only", p.Checks)
	}
	c := p.Checks[0]
	ran := embeddedtest.Day().Format(time.DateOnly)
	var days []string
	for _, d := range c.Days {
		if d.Runs > 0 {
			days = append(days, fmt.Sprintf("%s %d/%d", d.Date, d.Successes, d.Runs))
		}
	}
	if c.ID != "legacy" || c.Name != "Legacy API" || c.State != StateStale || c.LastChecked != nil ||
		strings.Join(days, ",") != ran+" 350/360" || !near(c.Uptime, 350.0/360) || p.Status != PageUnknown {
		t.Fatalf("legacy on its page %+v, days with runs %v (want %s 350/360), page %s", c, days, ran, p.Status)
	}
	if c.Days[len(c.Days)-1].Date != now.Format(time.DateOnly) {
		t.Fatalf("the last bar is %s, want today %s", c.Days[len(c.Days)-1].Date, now.Format(time.DateOnly))
	}
	// Picked by id, it is named as defined too.
	if get(t, srv.URL+"/api/v1/status/other", 200, &p); len(p.Checks) != 1 || p.Checks[0].Name != "Other" || p.Checks[0].State != StateStale {
		t.Fatalf("other's page %+v", p.Checks)
	}
}
