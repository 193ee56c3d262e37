package api

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// Results come newest first, a page at a time; a page's cursor gives the
// next one exactly, even when newer results arrive in between, and
// failures=true keeps the failed runs with their messages.
func TestResultsPages(t *testing.T) {
	srv, st := newServer(t)
	var rows []store.ResultRow
	for i := range 10 {
		for _, loc := range []string{"eu", "us"} {
			r := row("api", loc, time.Duration(i+1)*time.Minute, 200, float64(10+i))
			r.DNSMS, r.ConnectMS = 1, 2
			if i%3 == 0 && loc == "us" {
				r = fail(r, "FAILURE_CLASS_ASSERTION", fmt.Sprintf("assertion failed %d", i))
				if i == 0 {
					r.FailedStep, r.FailedAssertion = "checkout", `json $.ok == true`
				}
			}
			rows = append(rows, r)
		}
	}
	insert(t, st, rows...)
	var seen []ResultJSON
	next := ""
	for page := 0; ; page++ {
		var p ResultsJSON
		get(t, srv.URL+"/api/v1/checks/api/results?limit=3&cursor="+url.QueryEscape(next), 200, &p)
		seen = append(seen, p.Results...)
		if page == 0 { // a newer result arriving between pages shifts nothing
			insert(t, st, row("api", "eu", 0, 200, 1))
		}
		if next = p.NextCursor; next == "" {
			break
		}
	}
	if len(seen) != 20 {
		t.Fatalf("paged %d results, want 20", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if !a.ScheduledAt.After(b.ScheduledAt) && !(a.ScheduledAt.Equal(b.ScheduledAt) && a.Location > b.Location) {
			t.Fatalf("result %d (%s %s) not after %d (%s %s)", i-1, a.ScheduledAt, a.Location, i, b.ScheduledAt, b.Location)
		}
	}
	if seen[0].PhasesMS.Connect != 2 || seen[0].DurationMS != 10 {
		t.Errorf("first %+v", seen[0])
	}
	var f ResultsJSON
	get(t, srv.URL+"/api/v1/checks/api/results?failures=true&window=1h", 200, &f)
	if len(f.Results) != 4 || f.Results[0].FailureMessage != "assertion failed 0" || f.Results[3].FailureMessage != "assertion failed 9" ||
		f.Results[0].FailureClass != "FAILURE_CLASS_ASSERTION" {
		t.Errorf("failures %+v", f.Results)
	}
	// Newest first: the run 1 minute back (i = 0) comes first.
	if first := f.Results[0]; first.FailedStep != "checkout" || first.FailedAssertion != `json $.ok == true` || f.Results[3].FailedStep != "" {
		t.Errorf("failed step and assertion: %+v", f.Results)
	}
	var p Problem
	get(t, srv.URL+"/api/v1/checks/nope/results", 404, &p)
	get(t, srv.URL+"/api/v1/checks/api/results?failures=maybe", 400, &p)
	if p.Param != "failures" {
		t.Errorf("failures=maybe: %+v", p)
	}
}

// The overview gives every check's availability over 10 minutes, 24 hours
// and 30 days, its p95 and last error, equal to what the raw rows add up to.
func TestOverview(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	// pay: an older history, a day back and 20 days back.
	insert(t, st,
		row("pay", "eu", 3*time.Hour, 200, 100),
		fail(row("pay", "eu", 3*time.Hour+5*time.Second, 500, 100), "FAILURE_CLASS_HTTP_STATUS", "500"),
		row("pay", "eu", 20*24*time.Hour, 200, 100),
		row("pay", "eu", 20*24*time.Hour+5*time.Second, 200, 100),
	)
	var o OverviewJSON
	get(t, srv.URL+"/api/v1/overview", 200, &o)
	if len(o.Checks) != 3 {
		t.Fatalf("overview %+v", o.Checks)
	}
	pay := o.Checks[1]
	// 10 m: eu 200 (10 s ago), us 503, eu timeout: 1 of 3. 24 h: + 1 of 2. 30 d: + 2 of 2.
	for _, c := range []struct {
		name string
		got  *float64
		want float64
	}{{"10m", pay.Availability10m, 1.0 / 3}, {"24h", pay.Availability24h, 2.0 / 5}, {"30d", pay.Availability30d, 4.0 / 7}} {
		if c.got == nil || math.Abs(*c.got-c.want) > 1e-9 {
			t.Errorf("pay availability %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if pay.State != StateDown || pay.LastError == nil || pay.LastError.FailureMessage != "status 503, want 200" || pay.Runs24h != 5 ||
		math.Abs(pay.P95MS24h-100) > 1 || math.Abs(pay.AvgMS24h-(40+80+5000+200)/5.0) > 1e-9 {
		t.Errorf("pay %+v", pay)
	}
	if g := o.Checks[0]; g.ID != "gone" || g.Availability10m != nil || g.Availability24h == nil || *g.Availability24h != 1 {
		t.Errorf("gone %+v", g)
	}
	// Against the raw rows, to the last run.
	raw, err := st.OverviewFromRaw(context.Background(), []string{"gone", "pay", "web"}, now)
	if err != nil {
		t.Fatal(err)
	}
	every, err := st.Overview(context.Background(), []string{"gone", "pay", "web"}, now, 0) // every rollup level
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range o.Checks {
		r := raw[i]
		if e := every[i]; e.Runs10m != r.Runs10m || e.Successes10m != r.Successes10m || e.Runs24h != r.Runs24h ||
			e.Successes24h != r.Successes24h || e.Runs30d != r.Runs30d || e.Successes30d != r.Successes30d ||
			math.Abs(e.DurationSum24h-r.DurationSum24h) > 1e-6 || e.DetailRuns24h != r.DetailRuns24h {
			t.Errorf("%s: every rollup level %+v, raw %+v", c.ID, e, r)
		}
		if *c.Availability24h != float64(r.Successes24h)/float64(r.Runs24h) || *c.Availability30d != float64(r.Successes30d)/float64(r.Runs30d) {
			t.Errorf("%s: rollups %+v, raw %+v", c.ID, c, r)
		}
	}
	var l OverviewJSON
	get(t, srv.URL+"/api/v1/overview?label=team:web&limit=1", 200, &l)
	if len(l.Checks) != 1 || l.Checks[0].ID != "gone" || l.NextCursor == "" {
		t.Fatalf("page 1 %+v", l)
	}
	var l2 OverviewJSON
	get(t, srv.URL+"/api/v1/overview?label=team:web&limit=1&cursor="+l.NextCursor, 200, &l2)
	if len(l2.Checks) != 1 || l2.Checks[0].ID != "web" || l2.NextCursor != "" {
		t.Fatalf("page 2 %+v", l2)
	}
}

// An unfiltered overview reads its page's figures while it reads the
// catalog, for the first checks check_latest has after the cursor. When the
// catalog's page holds other checks (here: a check that appeared while the
// catalog was cached), the page's own figures are read and shown, never
// another check's or none.
func TestOverviewReadAheadFallsBackToTheCatalogsPage(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	var before OverviewJSON
	get(t, srv.URL+"/api/v1/overview?limit=1", 200, &before) // caches the catalog: gone, pay, web
	if len(before.Checks) != 1 || before.Checks[0].ID != "gone" || before.Checks[0].Availability24h == nil {
		t.Fatalf("first page %+v", before.Checks)
	}
	insert(t, st, row("aaa", "eu", time.Minute, 500, 10)) // first in id order, not in the cached catalog
	var o OverviewJSON
	get(t, srv.URL+"/api/v1/overview?limit=1", 200, &o)
	if len(o.Checks) != 1 || o.Checks[0].ID != "gone" || o.Checks[0].Availability24h == nil || *o.Checks[0].Availability24h != 1 ||
		o.Checks[0].Runs24h != 1 {
		t.Errorf("page of the cached catalog: %+v", o.Checks)
	}
}

// A series buckets a figure by step from the matching rollup, equal to the
// raw rows' figures of each bucket.
func TestSeries(t *testing.T) {
	srv, st := newServer(t)
	var rows []store.ResultRow
	for i := range 36 { // every 10 minutes over 6 hours, one in four failing
		r := row("api", "eu", time.Duration(i)*10*time.Minute+time.Second, 200, float64(10+i))
		r.ProcessingMS = float64(i)
		if i%4 == 0 {
			r = fail(r, "FAILURE_CLASS_TIMEOUT", "timeout")
		}
		rows = append(rows, r)
	}
	insert(t, st, rows...)
	var s SeriesJSON
	get(t, srv.URL+"/api/v1/checks/api/series?figure=availability&window=6h&step=1h", 200, &s)
	if s.StepSeconds != 3600 || len(s.Points) != 6 || s.Unit != "ratio" {
		t.Fatalf("series %+v", s)
	}
	raw, err := st.SeriesFromRaw(context.Background(), store.SeriesQuery{CheckID: "api", From: now.Add(-6 * time.Hour), To: now, Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range s.Points {
		if p.Value == nil {
			continue
		}
		r := raw[n]
		n++
		if !r.At.Equal(p.T) || p.Runs != r.Runs || *p.Value != float64(r.Successes)/float64(r.Runs) {
			t.Errorf("point %s: %d runs, %v; raw %s %d runs, %d successes", p.T, p.Runs, *p.Value, r.At, r.Runs, r.Successes)
		}
	}
	if n != len(raw) || n < 6 {
		t.Errorf("%d points with runs, raw %d", n, len(raw))
	}
	s = SeriesJSON{}
	get(t, srv.URL+"/api/v1/checks/api/series?figure=p95&window=2h", 200, &s) // auto step: 1m
	if s.StepSeconds != 60 || len(s.Points) != 120 || s.Unit != "ms" {
		t.Fatalf("p95 auto step %v, %d points", s.StepSeconds, len(s.Points))
	}
	var withRuns []PointJSON
	for _, p := range s.Points {
		if p.Value != nil {
			withRuns = append(withRuns, p)
		}
	}
	if len(withRuns) != 12 || withRuns[0].Phases == nil || math.Abs(*withRuns[11].Value-10) > 0.1 ||
		math.Abs(withRuns[0].Phases.Processing-11) > 0.11 {
		t.Errorf("p95 points %+v", withRuns)
	}
	var p Problem
	for _, tc := range []struct{ query, param string }{
		{"figure=nope", "figure"}, {"step=30s", "step"}, {"window=30d&step=1m", "step"}, {"window=ten", "window"},
	} {
		get(t, srv.URL+"/api/v1/checks/api/series?"+tc.query, 400, &p)
		if p.Param != tc.param {
			t.Errorf("%s: %+v", tc.query, p)
		}
	}
	get(t, srv.URL+"/api/v1/checks/nope/series", 404, &p)
}

// Alert history filters by check, rule and state, and pages with a cursor.
func TestAlertHistoryFilters(t *testing.T) {
	srv, st := newServer(t)
	var rows []store.AlertRow
	for i := range 6 {
		state := []string{"down", "up"}[i%2]
		for _, rule := range []string{"availability", "latency"} {
			rows = append(rows, store.AlertRow{EventID: fmt.Sprintf("%s-%d", rule, i), CheckID: "api", CheckName: "API", Rule: rule,
				State: state, At: now.Add(-time.Duration(6-i) * time.Minute), Kind: rule})
		}
	}
	rows = append(rows, store.AlertRow{EventID: "w", CheckID: "web", Rule: "availability", State: "down", At: now.Add(-time.Minute)})
	if err := st.InsertAlerts(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 13}, {"check_id=api", 12}, {"rule=latency", 6}, {"state=down", 7}, {"check_id=api&rule=latency&state=up", 3},
		{"state=down,up&check_id=web", 1}, {"from=" + now.Add(-3*time.Minute).Format(time.RFC3339), 7}} {
		var a AlertsJSON
		get(t, srv.URL+"/api/v1/alerts?"+tc.query, 200, &a)
		if len(a.Alerts) != tc.want {
			t.Errorf("%s: %d alerts, want %d", tc.query, len(a.Alerts), tc.want)
		}
	}
	seen := map[string]bool{}
	next := ""
	for range 20 {
		var a AlertsJSON
		get(t, srv.URL+"/api/v1/alerts?limit=4&cursor="+url.QueryEscape(next), 200, &a)
		for _, al := range a.Alerts {
			if seen[al.EventID] {
				t.Fatalf("%s twice", al.EventID)
			}
			seen[al.EventID] = true
		}
		if next = a.NextCursor; next == "" {
			break
		}
	}
	if len(seen) != 13 {
		t.Errorf("paged %d alerts, want 13", len(seen))
	}
	var p Problem
	get(t, srv.URL+"/api/v1/alerts?state=sideways", 400, &p)
	if p.Param != "state" {
		t.Errorf("state=sideways: %+v", p)
	}
}

// by=location adds each location's figures next to the check's.
func TestStatsByLocation(t *testing.T) {
	srv, st := newServer(t)
	insert(t, st, row("api", "eu", time.Minute, 200, 10), row("api", "us", time.Minute, 500, 30), row("api", "us", 2*time.Minute, 200, 20))
	var s StatsJSON
	get(t, srv.URL+"/api/v1/checks/api/stats?window=10m&by=location", 200, &s)
	if s.Samples != 3 || len(s.ByLocation) != 2 || s.ByLocation[0].Location != "eu" || s.ByLocation[0].Samples != 1 ||
		s.ByLocation[1].Location != "us" || s.ByLocation[1].Availability != 0.5 {
		t.Errorf("by location %+v", s)
	}
	var plain StatsJSON
	get(t, srv.URL+"/api/v1/checks/api/stats?window=10m", 200, &plain)
	if plain.ByLocation != nil || plain.Samples != 3 {
		t.Errorf("without by: %+v", plain.ByLocation)
	}
	var p Problem
	get(t, srv.URL+"/api/v1/checks/api/stats?by=rule", 400, &p)
	if p.Param != "by" {
		t.Errorf("by=rule: %+v", p)
	}
}

// The overview's recent_minutes are each check's runs and successes per
// minute of the last 30, every location together, oldest first: the
// dashboard's bar of recent results.
func TestOverviewRecentMinutes(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	insert(t, st, row("web", "eu", 31*time.Minute, 200, 10)) // before the 30 minutes
	var o OverviewJSON
	get(t, srv.URL+"/api/v1/overview", 200, &o)
	got := map[string]string{}
	for _, c := range o.Checks {
		got[c.ID] = fmt.Sprint(c.RecentMinutes)
	}
	m := func(ago time.Duration, runs, ok uint64) MinuteJSON {
		return MinuteJSON{T: now.Add(-ago).Truncate(time.Minute), Runs: runs, Successes: ok}
	}
	// pay: eu ok 10 s ago, us 503 5 s ago (11:59), eu timeout 2 min ago (11:58).
	want := map[string]string{
		"pay":  fmt.Sprint([]MinuteJSON{m(2*time.Minute, 1, 0), m(5*time.Second, 2, 1)}),
		"web":  fmt.Sprint([]MinuteJSON{m(3*time.Second, 1, 1)}),
		"gone": fmt.Sprint([]MinuteJSON{}),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recent minutes %v, want %v", got, want)
	}
}
