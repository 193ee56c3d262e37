package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
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

// A check silent for longer than the default window (but heard from within
// checkLookback) is listed stale, with its last result, by the check list
// and the overview, and its rule's stale transition is an open alert.
func TestSilentChecksAreListedStale(t *testing.T) {
	srv, st := newServer(t)
	checkFixture(t, st)
	quietFor := 3 * 24 * time.Hour
	insert(t, st,
		row("quiet", "eu", quietFor+time.Minute, 200, 10),
		fail(row("quiet", "eu", quietFor, 500, 20), "FAILURE_CLASS_HTTP_STATUS", "status 500, want 200"))
	if err := st.InsertAlerts(context.Background(), []store.AlertRow{
		{EventID: "q1", CheckID: "quiet", CheckName: "Name quiet", Rule: "availability", State: "stale", PreviousState: "down",
			At: now.Add(-quietFor + 25*time.Second), Kind: "availability", Summary: "Name quiet stopped reporting"},
	}); err != nil {
		t.Fatal(err)
	}
	lastSeen := now.Add(-quietFor).UTC()

	var l CheckListJSON
	get(t, srv.URL+"/api/v1/checks?state=stale", 200, &l)
	if len(l.Checks) != 2 || l.Checks[0].ID != "gone" || l.Checks[1].ID != "quiet" {
		t.Fatalf("stale checks %+v", l.Checks)
	}
	q := l.Checks[1]
	if q.State != StateStale || !q.LastSeen.Equal(lastSeen) || q.LastResult == nil || q.LastResult.HTTPStatus != 500 ||
		q.LastFailure == nil || q.LastFailure.FailureMessage != "status 500, want 200" ||
		len(q.LocationStates) != 1 || q.LocationStates[0].State != StateStale {
		t.Errorf("quiet %+v", q)
	}
	// An explicit window still narrows the list to the checks heard from in it.
	get(t, srv.URL+"/api/v1/checks?window=24h", 200, &l)
	if len(l.Checks) != 3 {
		t.Errorf("window=24h: %+v", l.Checks)
	}

	var o OverviewJSON
	get(t, srv.URL+"/api/v1/overview?state=stale", 200, &o)
	if len(o.Checks) != 2 || o.Checks[1].ID != "quiet" {
		t.Fatalf("stale overview %+v", o.Checks)
	}
	if oq := o.Checks[1]; oq.State != StateStale || !oq.LastSeen.Equal(lastSeen) || oq.Availability24h != nil ||
		oq.Availability30d == nil || *oq.Availability30d != 0.5 || oq.LastError == nil || oq.LastError.HTTPStatus != 500 {
		t.Errorf("quiet overview %+v", oq)
	}

	var a AlertsJSON
	get(t, srv.URL+"/api/v1/alerts/open", 200, &a)
	if len(a.Alerts) != 2 || a.Alerts[0].CheckID != "pay" || a.Alerts[1].CheckID != "quiet" || a.Alerts[1].State != StateStale {
		t.Errorf("open %+v", a.Alerts)
	}
	get(t, srv.URL+"/api/v1/alerts/open?state=stale", 200, &a)
	if len(a.Alerts) != 1 || a.Alerts[0].CheckID != "quiet" {
		t.Errorf("open, stale %+v", a.Alerts)
	}
	get(t, srv.URL+"/api/v1/alerts/open?state=down,degraded", 200, &a)
	if len(a.Alerts) != 1 || a.Alerts[0].CheckID != "pay" {
		t.Errorf("open, down or degraded %+v", a.Alerts)
	}
	var p Problem
	get(t, srv.URL+"/api/v1/alerts/open?state=up", 400, &p)
	if p.Param != "state" {
		t.Errorf("state=up: %+v", p)
	}
}

// The check list and the overview reuse one catalog read for catalogTTL: a
// new check shows once it has passed, and a check turns stale with the next
// read.
func TestCatalogIsReusedForItsTTL(t *testing.T) {
	st := embeddedtest.Store(t)
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	var mu sync.Mutex
	at, clock := now, time.Unix(1000, 0)
	a.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	a.clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	checkFixture(t, st)
	states := func(path string) map[string]string {
		t.Helper()
		var o OverviewJSON // the check list's checks have the same id and state
		get(t, srv.URL+path, 200, &o)
		out := map[string]string{}
		for _, c := range o.Checks {
			out[c.ID] = c.State
		}
		return out
	}
	if s := states("/api/v1/checks"); len(s) != 3 || s["web"] != StateUp {
		t.Fatalf("checks %v", s)
	}
	insert(t, st, row("new", "eu", time.Second, 200, 10))
	if s := states("/api/v1/overview"); len(s) != 3 {
		t.Errorf("within the TTL: %v, want the catalog read before", s)
	}
	mu.Lock()
	clock = clock.Add(catalogTTL)
	mu.Unlock()
	for _, path := range []string{"/api/v1/checks", "/api/v1/overview"} {
		if s := states(path); len(s) != 4 || s["new"] != StateUp {
			t.Errorf("%s after the TTL: %v", path, s)
		}
	}
	mu.Lock()
	at = at.Add(time.Minute) // more than 3 intervals of 5 s (and storeLag) without a result
	mu.Unlock()
	// The same read holds no newer result, nor says there is none: a
	// state is of the rows as of their read, so a check probed since is
	// not shown stale from it.
	if s := states("/api/v1/checks"); s["new"] != StateUp || s["web"] != StateUp {
		t.Errorf("a minute later, from the same read: %v, want the states as of the read", s)
	}
	mu.Lock()
	clock = clock.Add(catalogTTL)
	mu.Unlock()
	if s := states("/api/v1/checks"); s["new"] != StateStale || s["web"] != StateStale {
		t.Errorf("a minute later, from a new read: %v", s)
	}
}

// A check probed every 100 ms whose newest stored result is a second old
// (the aggregator stores results with its flush, every second) is up: three
// intervals alone are shorter than the pipeline's own lag, and it used to
// flicker stale while probed. Silent for longer than storeLag, it is stale.
func TestAFastCheckIsNotStaleForThePipelinesLag(t *testing.T) {
	srv, st := newServer(t)
	fast := func(check string, ago time.Duration) store.ResultRow {
		r := row(check, "eu", ago, 200, 10)
		r.IntervalMS = 100
		return r
	}
	insert(t, st, fast("fast", time.Second), fast("stopped", 3*100*time.Millisecond+storeLag+time.Second))
	var l CheckListJSON
	get(t, srv.URL+"/api/v1/checks", 200, &l)
	got := map[string]string{}
	for _, c := range l.Checks {
		got[c.ID] = c.State
	}
	if got["fast"] != StateUp || got["stopped"] != StateStale {
		t.Fatalf("states %v, want fast up and stopped stale", got)
	}
}
