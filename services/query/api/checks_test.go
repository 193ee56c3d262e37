package api

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// fail makes r a failed run of class with message.
func fail(r store.ResultRow, class, msg string) store.ResultRow {
	r.Success, r.FailureClass, r.FailureMessage = false, class, msg
	return r
}

func insert(t *testing.T, st *store.Store, rows ...store.ResultRow) {
	t.Helper()
	ctx := context.Background()
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{}
	var ids []string
	from, to := rows[0].ScheduledAt, rows[0].ScheduledAt
	for _, r := range rows {
		if !checks[r.CheckID] {
			checks[r.CheckID] = true
			ids = append(ids, r.CheckID)
		}
		if r.ScheduledAt.Before(from) {
			from = r.ScheduledAt
		}
		if r.ScheduledAt.After(to) {
			to = r.ScheduledAt
		}
	}
	if err := st.RebuildRollups(ctx, ids, from, to); err != nil {
		t.Fatal(err)
	}
}

func labelled(r store.ResultRow, labels map[string]string) store.ResultRow {
	r.Labels = labels
	return r
}

// checkFixture stores three checks: pay (labelled team:payments, down in eu
// by its newest result and by an availability rule), web (up) and gone
// (whose only location stopped reporting an hour ago).
func checkFixture(t *testing.T, st *store.Store) {
	pay := map[string]string{"team": "payments", "tier": "1"}
	insert(t, st,
		labelled(row("pay", "eu", 10*time.Second, 200, 40), pay),
		labelled(fail(row("pay", "us", 5*time.Second, 503, 80), "FAILURE_CLASS_HTTP_STATUS", "status 503, want 200"), pay),
		labelled(fail(row("pay", "eu", 2*time.Minute, 0, 5000), "FAILURE_CLASS_TIMEOUT", "timeout after 5s"), pay),
		labelled(row("web", "eu", 3*time.Second, 200, 10), map[string]string{"team": "web"}),
		labelled(row("gone", "eu", time.Hour, 200, 10), map[string]string{"team": "web"}),
	)
	if err := st.InsertAlerts(context.Background(), []store.AlertRow{
		{EventID: "p1", CheckID: "pay", CheckName: "Name pay", Rule: "availability", State: "down", PreviousState: "up",
			At: now.Add(-time.Minute), Kind: "availability", Summary: "Name pay is down", FailingLocations: []string{"us"}},
		{EventID: "w1", CheckID: "web", CheckName: "Name web", Rule: "availability", State: "down", PreviousState: "up",
			At: now.Add(-2 * time.Hour), Kind: "availability"},
		{EventID: "w2", CheckID: "web", CheckName: "Name web", Rule: "availability", State: "up", PreviousState: "down",
			At: now.Add(-90 * time.Minute), Kind: "availability", DownSince: now.Add(-2 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckList(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	var l CheckListJSON
	get(t, srv.URL+"/api/v1/checks", 200, &l)
	if len(l.Checks) != 3 {
		t.Fatalf("checks %+v", l.Checks)
	}
	gone, pay, web := l.Checks[0], l.Checks[1], l.Checks[2]
	if pay.ID != "pay" || pay.State != StateDown || pay.Name != "Name pay" || pay.Type != "http" ||
		pay.Labels["team"] != "payments" || pay.IntervalSecs != 5 || len(pay.Rules) != 1 || pay.Rules[0].State != "down" {
		t.Errorf("pay %+v", pay)
	}
	if len(pay.LocationStates) != 2 || pay.LocationStates[0].State != StateUp || pay.LocationStates[1].State != StateDown {
		t.Errorf("pay locations %+v", pay.LocationStates)
	}
	if eu := pay.LocationStates[0]; eu.LastFailure == nil || eu.LastFailure.FailureMessage != "timeout after 5s" ||
		eu.LastResult.FailureMessage != "" || !eu.LastResult.Success {
		t.Errorf("pay eu: last result %+v, last failure %+v", eu.LastResult, eu.LastFailure)
	}
	if pay.LastResult == nil || pay.LastResult.Location != "us" || pay.LastResult.HTTPStatus != 503 ||
		pay.LastFailure == nil || pay.LastFailure.FailureMessage != "status 503, want 200" ||
		pay.LastFailure.FailureClass != "FAILURE_CLASS_HTTP_STATUS" {
		t.Errorf("pay last result %+v, last failure %+v", pay.LastResult, pay.LastFailure)
	}
	if web.State != StateUp || web.LastFailure != nil || len(web.Rules) != 1 || web.Rules[0].State != "up" {
		t.Errorf("web %+v", web)
	}
	if gone.State != StateStale || gone.LocationStates[0].State != StateStale {
		t.Errorf("gone %+v", gone)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"label=team:payments", []string{"pay"}},
		{"label=team:web", []string{"gone", "web"}},
		{"label=team:web&label=tier:1", nil},
		{"label=team:payments&label=tier:1", []string{"pay"}},
		{"state=down", []string{"pay"}},
		{"state=up,stale", []string{"gone", "web"}},
		{"state=stale&label=team:web", []string{"gone"}},
		{"window=30m", []string{"pay", "web"}},
	} {
		var l CheckListJSON
		get(t, srv.URL+"/api/v1/checks?"+tc.query, 200, &l)
		var ids []string
		for _, c := range l.Checks {
			ids = append(ids, c.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) || (len(ids) > 1 && ids[1] != tc.want[1]) {
			t.Errorf("%s: %v, want %v", tc.query, ids, tc.want)
		}
	}
	// Pages of one: every check once, in order.
	var ids []string
	next := ""
	for range 5 {
		var l CheckListJSON
		get(t, srv.URL+"/api/v1/checks?limit=1&cursor="+url.QueryEscape(next), 200, &l)
		for _, c := range l.Checks {
			ids = append(ids, c.ID)
		}
		if next = l.NextCursor; next == "" {
			break
		}
	}
	if len(ids) != 3 || ids[0] != "gone" || ids[2] != "web" {
		t.Errorf("paged: %v", ids)
	}
	for _, tc := range []struct{ query, param string }{
		{"label=team", "label"}, {"state=broken", "state"}, {"cursor=not-a-cursor", "cursor"}, {"limit=0", "limit"},
	} {
		var p Problem
		get(t, srv.URL+"/api/v1/checks?"+tc.query, 400, &p)
		if p.Param != tc.param {
			t.Errorf("%s: %+v", tc.query, p)
		}
	}
}

func TestOneCheck(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	var c CheckJSON
	get(t, srv.URL+"/api/v1/checks/pay", 200, &c)
	if c.ID != "pay" || c.State != StateDown || len(c.Locations) != 2 || c.Labels["tier"] != "1" {
		t.Errorf("pay %+v", c)
	}
	var p Problem
	get(t, srv.URL+"/api/v1/checks/nope", 404, &p)
	if p.Title != "Unknown check" {
		t.Errorf("nope: %+v", p)
	}
}

func TestOpenAlerts(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	var a AlertsJSON
	get(t, srv.URL+"/api/v1/alerts/open", 200, &a)
	if len(a.Alerts) != 1 || a.Alerts[0].CheckID != "pay" || a.Alerts[0].State != "down" {
		t.Errorf("open %+v", a.Alerts)
	}
}

// q keeps the checks whose id or name contains it, ignoring case, in the
// check list and the overview alike (the dashboard's search box); past 200
// characters it is a 400 naming q.
func TestCheckSearch(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	for _, tc := range []struct{ q, want string }{
		{"PA", "pay"}, {"name w", "web"}, {"ON", "gone"}, {"nothing", ""}, {"", "gone,pay,web"},
	} {
		var l CheckListJSON
		get(t, srv.URL+"/api/v1/checks?q="+url.QueryEscape(tc.q), 200, &l)
		var o OverviewJSON
		get(t, srv.URL+"/api/v1/overview?q="+url.QueryEscape(tc.q), 200, &o)
		var ids []string
		for _, c := range l.Checks {
			ids = append(ids, c.ID)
		}
		if got := strings.Join(ids, ","); got != tc.want || rowIDs(o) != tc.want {
			t.Errorf("q=%q: checks %s, overview %s; want %s", tc.q, got, rowIDs(o), tc.want)
		}
	}
	var l CheckListJSON
	get(t, srv.URL+"/api/v1/checks?q=pay&label=team:web", 200, &l)
	if len(l.Checks) != 0 {
		t.Errorf("q=pay&label=team:web: %+v", l.Checks)
	}
	var p Problem
	get(t, srv.URL+"/api/v1/overview?q="+strings.Repeat("é", 201), 400, &p)
	if p.Param != "q" || p.Detail != "q has 201 characters: at most 200" {
		t.Errorf("long q: %+v", p)
	}
}
