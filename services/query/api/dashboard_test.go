package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// The dashboard in the browser (see browser_test.go for the harness): what
// it shows against what the API answers.

// The dashboard's formats, as app.js writes them.
func pctText(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f %%", *v*100)
}

func msText(v float64, runs uint64) string {
	if runs == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", v)
}

func agoText(at, t time.Time) string {
	s := int(math.Round(float64(at.UnixMilli()-t.UnixMilli()) / 1000))
	switch {
	case s < 60:
		return fmt.Sprintf("%d s ago", max(s, 0))
	case s < 3600:
		return fmt.Sprintf("%d min ago", s/60)
	case s < 86400:
		return fmt.Sprintf("%d h ago", s/3600)
	}
	return fmt.Sprintf("%d d ago", s/86400)
}

// shownRow is one check as the overview's table shows it.
type shownRow struct {
	ID, State, A10m, A24h, A30d, P95, Seen, Err string
	// Bar is the classes of the minute cells, oldest first.
	Bar string
}

const shownRowsJS = `[...document.querySelectorAll("#checks tbody tr[data-id]")].map(tr => ({
  ID: tr.dataset.id, State: tr.querySelector(".state").textContent,
  A10m: tr.querySelectorAll("td.avail")[0].textContent, A24h: tr.querySelectorAll("td.avail")[1].textContent,
  A30d: tr.querySelectorAll("td.avail")[2].textContent, P95: tr.querySelector("td.p95").textContent,
  Seen: tr.querySelector("td.seen").textContent, Err: tr.querySelector("td.err .msg")?.textContent ?? "",
  Bar: [...tr.querySelectorAll(".bar.minutes i")].map(i => i.className).join()}))`

// minuteBar is the classes app.js gives the cells of the last 30 minutes.
func minuteBar(at time.Time, minutes []MinuteJSON) string {
	byT := map[int64]MinuteJSON{}
	for _, m := range minutes {
		byT[m.T.UnixMilli()] = m
	}
	last := at.UnixMilli() / 60000 * 60000
	var cells []string
	for i := int64(29); i >= 0; i-- {
		m, ok := byT[last-i*60000]
		switch {
		case !ok:
			cells = append(cells, "nodata")
		case m.Successes == m.Runs:
			cells = append(cells, "up")
		case m.Successes == 0:
			cells = append(cells, "down")
		default:
			cells = append(cells, "degraded")
		}
	}
	return strings.Join(cells, ",")
}

func wantRows(o OverviewJSON) []shownRow {
	var out []shownRow
	for _, c := range o.Checks {
		r := shownRow{ID: c.ID, State: c.State, A10m: pctText(c.Availability10m), A24h: pctText(c.Availability24h),
			A30d: pctText(c.Availability30d), P95: msText(c.P95MS24h, c.Runs24h), Seen: agoText(o.At, c.LastSeen),
			Bar: minuteBar(o.At, c.RecentMinutes)}
		if c.LastError != nil {
			r.Err = c.LastError.FailureMessage
		}
		out = append(out, r)
	}
	return out
}

func rowIDs(o OverviewJSON) string {
	var ids []string
	for _, c := range o.Checks {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, ",")
}

// The overview shows every check's state and figures as the API answers
// them, the open alerts on top; the label filter and the search narrow the
// list as the API does; an API error shows a banner and greys the figures
// as stale.
func TestDashboardOverview(t *testing.T) {
	ctx := tab(t)
	srv, st := newServer(t)
	checkFixture(t, st)
	run(t, ctx, chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, `document.querySelectorAll("#checks tbody tr[data-id]").length > 0`)

	var o OverviewJSON
	get(t, srv.URL+"/api/v1/overview", 200, &o)
	shown := eval[[]shownRow](t, ctx, shownRowsJS)
	if want := wantRows(o); fmt.Sprint(shown) != fmt.Sprint(want) {
		t.Errorf("the overview shows\n%+v\nthe API answers\n%+v", shown, want)
	}
	// The states the fixture makes: pay down, web up, gone stale.
	// now is 12:00:00: the minute it is in has no run yet.
	if !strings.HasSuffix(shown[1].Bar, "nodata,down,degraded,nodata") {
		t.Errorf("pay's bar %s: want 11:58 down and 11:59 degraded", shown[1].Bar)
	}
	if got := fmt.Sprint(shown); !strings.Contains(got, "{pay down") || !strings.Contains(got, "{web up") || !strings.Contains(got, "{gone stale") {
		t.Errorf("states %s", got)
	}
	var open AlertsJSON
	get(t, srv.URL+"/api/v1/alerts/open", 200, &open)
	openShown := eval[[]string](t, ctx, `[...document.querySelectorAll("#open-alerts li")].map(li => li.dataset.check)`)
	var openWant []string
	for _, a := range open.Alerts {
		openWant = append(openWant, a.CheckID)
	}
	if len(openWant) == 0 || fmt.Sprint(openShown) != fmt.Sprint(openWant) {
		t.Errorf("open alerts shown %v, API %v", openShown, openWant)
	}
	screenshot(t, ctx, "overview-laptop")
	if err := phone(ctx); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "overview-phone")
	if err := laptop(ctx); err != nil {
		t.Fatal(err)
	}

	// The label filter: what the API answers for the same selector.
	var byLabel OverviewJSON
	get(t, srv.URL+"/api/v1/overview?label=team:web", 200, &byLabel)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#labels"), "team:web"))
	waitFor(t, ctx, fmt.Sprintf(`[...document.querySelectorAll("#checks tbody tr[data-id]")].map(tr => tr.dataset.id).join() === %q`, rowIDs(byLabel)))
	// The search, server-side (q), with the label filter cleared.
	var search OverviewJSON
	get(t, srv.URL+"/api/v1/overview?q=PA", 200, &search)
	if rowIDs(search) != "pay" {
		t.Fatalf("q=PA: %s", rowIDs(search))
	}
	clear(t, ctx, "labels")
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#q"), "PA"))
	waitFor(t, ctx, `[...document.querySelectorAll("#checks tbody tr[data-id]")].map(tr => tr.dataset.id).join() === "pay"`)
	if u := eval[string](t, ctx, `location.search`); u != "?q=PA" {
		t.Errorf("the filter is not in the address: %q", u)
	}

	// A bad selector: the API's problem in a banner, the rows greyed as stale.
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#labels"), "team"))
	waitFor(t, ctx, `!document.getElementById("banner").hidden`)
	banner := eval[string](t, ctx, `document.getElementById("banner").textContent`)
	stale := eval[bool](t, ctx, `document.getElementById("data").classList.contains("stale-data")`)
	if !strings.Contains(banner, `400 — label "team": want key:value`) || !strings.Contains(banner, "are stale") || !stale {
		t.Errorf("banner %q, stale %v", banner, stale)
	}
	screenshot(t, ctx, "overview-error")
	// Fixed, the banner goes and the figures are current again.
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#labels"), ":payments"))
	waitFor(t, ctx, `document.getElementById("banner").hidden && !document.getElementById("data").classList.contains("stale-data")`)

	// The API gone while the page refreshes (every second here): the banner
	// says so and the figures shown are marked stale.
	run(t, ctx, chromedp.Navigate(srv.URL+"/?refresh=1"))
	waitFor(t, ctx, `document.querySelectorAll("#checks tbody tr[data-id]").length === 3`)
	srv.Close()
	waitFor(t, ctx, `!document.getElementById("banner").hidden && document.getElementById("data").classList.contains("stale-data")`)
	if banner := eval[string](t, ctx, `document.getElementById("banner").textContent`); !strings.Contains(banner, "unreachable") ||
		!strings.Contains(banner, "are stale") {
		t.Errorf("banner with the API gone: %q", banner)
	}
}

// checkPageFixture stores a day of results of check api, every minute
// from eu and us with phase timings, some failing, and an alert that opened
// and resolved with its evidence.
func checkPageFixture(t *testing.T, st *store.Store) {
	var rows []store.ResultRow
	for i := range 1440 {
		for _, loc := range []string{"eu", "us"} {
			r := row("api", loc, time.Duration(i)*time.Minute+time.Second, 200, 0)
			r.DNSMS, r.ConnectMS, r.TLSMS, r.ProcessingMS, r.TransferMS = 2, 5, 12, 30+float64(i*7%40), 3
			if loc == "us" { // farther away: slower, so the percentiles part
				r.ConnectMS, r.TLSMS, r.ProcessingMS = 40, 80, 60+float64(i*13%90)
			}
			r.DurationMS = r.DNSMS + r.ConnectMS + r.TLSMS + r.ProcessingMS + r.TransferMS
			r.Labels = map[string]string{"team": "api"}
			switch {
			case (i+3)%151 == 0 && loc == "us":
				r = fail(r, "FAILURE_CLASS_TIMEOUT", fmt.Sprintf("timeout after 5s (run %d)", i))
				r.HTTPStatus, r.ProcessingMS, r.TransferMS = 0, 0, 0
			case (i+5)%97 == 0:
				r = fail(r, "FAILURE_CLASS_HTTP_STATUS", fmt.Sprintf("status 503, want 200 (run %d)", i))
				r.HTTPStatus = 503
			}
			rows = append(rows, r)
		}
	}
	insert(t, st, rows...)
	down := store.AlertRow{EventID: "a1", CheckID: "api", CheckName: "Name api", Rule: "availability", State: "down",
		PreviousState: "up", At: now.Add(-3 * time.Hour), Kind: "availability", Value: 0.5, Unit: "ratio", Threshold: 0.9,
		Samples: 12, Successes: 6, Location: "us", FailingLocations: []string{"us"}, Locations: 2, Quorum: 1,
		Summary: "Name api is down in us", FirstResultID: "r1", LastResultID: "r12"}
	up := down
	up.EventID, up.State, up.PreviousState, up.At, up.Summary, up.DownSince = "a2", "up", "down", now.Add(-2*time.Hour),
		"Name api is up again", down.At
	up.FailingLocations = []string{}
	if err := st.InsertAlerts(context.Background(), []store.AlertRow{down, up}); err != nil {
		t.Fatal(err)
	}
}

// pathPoints counts the points of an SVG path's d (its M and L commands).
func pathPoints(d string) int { return strings.Count(d, "M") + strings.Count(d, "L") }

// A check's page draws its availability and p50/p95/p99 charts with a point
// per bucket the series endpoint gives a value, the per-phase breakdown,
// and lists the status codes, failure classes, failures and alerts the API
// answers for the chosen range.
func TestDashboardCheckPage(t *testing.T) {
	ctx := tab(t)
	srv, st := newServer(t)
	checkPageFixture(t, st)
	if err := st.InsertDeliveries(context.Background(), []store.DeliveryRow{
		{EventID: "a1", NotificationKey: "a1", Destination: "ops", Attempt: 1, Status: "retried", LatencyMS: 5000, Error: "503 Service Unavailable", At: now.Add(-time.Hour)},
		{EventID: "a1", NotificationKey: "a1", Destination: "ops", Attempt: 2, Status: "delivered", LatencyMS: 42, At: now.Add(-time.Hour + time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(srv.URL+"/checks/api?range=24h"))
	waitFor(t, ctx, `document.querySelectorAll("#chart-latency path.series").length === 3 && document.querySelector("#failures tbody tr[data-result]") !== null`)

	type path struct{ Name, D, Points string }
	paths := eval[map[string][]path](t, ctx, `Object.fromEntries(["chart-availability", "chart-latency", "chart-phases"].map(id =>
  [id, [...document.querySelectorAll("#" + id + " path.series")].map(p => ({Name: p.dataset.name, D: p.getAttribute("d"), Points: p.dataset.points}))]))`)
	for _, c := range []struct{ chart, figure string }{
		{"chart-availability", "availability"}, {"chart-latency", "p50"}, {"chart-latency", "p95"}, {"chart-latency", "p99"},
	} {
		var s SeriesJSON
		get(t, srv.URL+"/api/v1/checks/api/series?window=24h&figure="+c.figure, 200, &s)
		n := 0
		for _, p := range s.Points {
			if p.Value != nil {
				n++
			}
		}
		var got *path
		for i, p := range paths[c.chart] {
			if p.Name == c.figure {
				got = &paths[c.chart][i]
			}
		}
		if n < 200 || got == nil || pathPoints(got.D) != n || got.Points != fmt.Sprint(n) {
			t.Errorf("%s %s: the API has %d points, the chart %+v", c.chart, c.figure, n, got)
		}
	}
	if ph := paths["chart-phases"]; len(ph) != 5 || ph[3].Name != "processing" || ph[3].Points != fmt.Sprint(pathPoints(ph[3].D)/2) || pathPoints(ph[3].D) < 400 {
		t.Errorf("phases chart %+v", ph)
	}

	var stats StatsJSON
	get(t, srv.URL+"/api/v1/checks/api/stats?window=24h", 200, &stats)
	cards := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("#summary .card")].map(c => [c.dataset.k, c.querySelector("b").textContent]))`)
	if cards["availability"] != pctText(&stats.Availability) || cards["samples"] != fmt.Sprint(stats.Samples) ||
		cards["p95"] != msText(stats.ResponseTimeMS.P95, stats.Samples) || cards["p99"] != msText(stats.ResponseTimeMS.P99, stats.Samples) {
		t.Errorf("summary %v; stats %+v", cards, stats)
	}
	counts := func(id string) map[string]string {
		return eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("#`+id+` .key")].map(k => [k.title, k.nextElementSibling.nextElementSibling.textContent]))`)
	}
	codes, classes := counts("codes"), counts("classes")
	wantCounts := func(m map[string]uint64) string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
		return fmt.Sprint(out)
	}
	if fmt.Sprint(codes) != wantCounts(stats.StatusCodes) || fmt.Sprint(classes) != wantCounts(stats.FailureClasses) || len(classes) != 2 {
		t.Errorf("status codes %v, classes %v; stats %v, %v", codes, classes, stats.StatusCodes, stats.FailureClasses)
	}

	var failures ResultsJSON
	get(t, srv.URL+"/api/v1/checks/api/results?window=24h&failures=true&limit=20", 200, &failures)
	messages := eval[[]string](t, ctx, `[...document.querySelectorAll("#failures tbody tr td.msg")].map(td => td.textContent)`)
	var wantMessages []string
	for _, r := range failures.Results {
		wantMessages = append(wantMessages, r.FailureMessage)
	}
	if len(wantMessages) < 10 || fmt.Sprint(messages) != fmt.Sprint(wantMessages) {
		t.Errorf("failures shown %q, API %q", messages, wantMessages)
	}

	var alerts AlertsJSON
	get(t, srv.URL+"/api/v1/alerts?check_id=api&window=24h", 200, &alerts)
	events := eval[[]string](t, ctx, `[...document.querySelectorAll("#alert-history tbody tr[data-event]")].map(tr => tr.dataset.event)`)
	evidence := eval[string](t, ctx, `document.querySelector('#alert-history tr[data-event="a1"] td.evidence').textContent`)
	if fmt.Sprint(events) != "[a2 a1]" || len(alerts.Alerts) != 2 || alerts.Alerts[0].EventID != "a2" ||
		!strings.Contains(evidence, "availability: 50.00 % against 90.00 %") || !strings.Contains(evidence, "failing 1 of 2 locations (us), quorum 1") {
		t.Errorf("alerts shown %v, evidence %q; API %+v", events, evidence, alerts.Alerts)
	}
	// No SLO covers the check: its section stays hidden, and nothing is an
	// error. The alert's deliveries open from its evidence, as the log has them.
	if !eval[bool](t, ctx, `document.getElementById("slos").hidden && document.getElementById("banner").hidden`) {
		t.Error("the SLO section or the error banner show for a check no SLO covers")
	}
	waitFor(t, ctx, `[...document.querySelectorAll("details.deliveries")].length === 2 && [...document.querySelectorAll("details.deliveries")].every(d => !d.hidden)`)
	eval[bool](t, ctx, `(d => { d.open = true; return true })(document.querySelector('#alert-history tr[data-event="a1"] details.deliveries'))`)
	waitFor(t, ctx, `document.querySelectorAll('#alert-history tr[data-event="a1"] li.delivery').length === 2`)
	shownDeliveries := eval[[]string](t, ctx, `[...document.querySelectorAll('#alert-history tr[data-event="a1"] li.delivery')].map(li => li.textContent)`)
	var dl DeliveriesJSON
	get(t, srv.URL+"/api/v1/alerts/a1/deliveries", 200, &dl)
	if len(dl.Deliveries) != 2 || !strings.Contains(fmt.Sprint(shownDeliveries), "ops · attempt 2 · delivered in 42.0 ms") ||
		!strings.Contains(fmt.Sprint(shownDeliveries), "ops · attempt 1 · retried in 5000.0 ms — 503 Service Unavailable") {
		t.Errorf("deliveries shown %q; API %+v", shownDeliveries, dl.Deliveries)
	}
	screenshot(t, ctx, "check-laptop")
	if err := phone(ctx); err != nil {
		t.Fatal(err)
	}
	screen(t, ctx, "check-phone")
	if err := laptop(ctx); err != nil {
		t.Fatal(err)
	}

	// Another range: the charts are redrawn from the 7-day series (1 h steps).
	var week SeriesJSON
	get(t, srv.URL+"/api/v1/checks/api/series?window=7d&figure=availability", 200, &week)
	n := 0
	for _, p := range week.Points {
		if p.Value != nil {
			n++
		}
	}
	run(t, ctx, chromedp.Click(chromedp.CSS(`button[data-range="7d"]`)))
	waitFor(t, ctx, fmt.Sprintf(`location.search === "?range=7d" && document.querySelector("#chart-availability path.series")?.dataset.points === "%d"`, n))

	// An unknown check: the API's 404 in the banner.
	run(t, ctx, chromedp.Navigate(srv.URL+"/checks/"+url.PathEscape("no such")))
	waitFor(t, ctx, `!document.getElementById("banner").hidden && document.getElementById("banner").textContent.includes("404")`)
}

// With the API's auth on, the dashboard (a public page) asks for the token
// when the API answers 401 instead of showing nothing, keeps it for the
// tab, and then shows the checks; a wrong token is said to be refused.
func TestDashboardAsksForTheToken(t *testing.T) {
	ctx := tab(t)
	st := embeddedtest.Store(t)
	a := New(st, slog.New(slog.DiscardHandler), 0)
	a.now = func() time.Time { return now }
	cfg := DefaultAccess()
	cfg.Auth.Tokens = []string{"dashboard-token-0123456789"}
	g, err := NewGuard(cfg, "", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Wrap(a.Handler()))
	defer srv.Close()
	checkFixture(t, st)

	run(t, ctx, chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, `document.querySelector("#token-form input[name=token]") !== null`)
	if b := eval[string](t, ctx, `document.getElementById("banner").textContent`); !strings.Contains(b, "401") || !strings.Contains(b, "This API needs a token") {
		t.Errorf("banner %q: want the 401 and the request for a token", b)
	}
	screenshot(t, ctx, "token-asked")
	run(t, ctx, chromedp.SendKeys(`#token-form input[name=token]`, "wrong-token-0123456789"), chromedp.Click(`#token-form button`))
	waitFor(t, ctx, `document.getElementById("token-form")?.textContent.includes("The token given was refused")`)

	// The form is drawn again by each refresh: type into the one there now.
	eval[bool](t, ctx, `(f => { f.token.value = "dashboard-token-0123456789"; f.querySelector("button").click(); return true })(document.getElementById("token-form"))`)
	waitFor(t, ctx, `document.querySelectorAll("#checks tbody tr[data-id]").length === 3`)
	if eval[bool](t, ctx, `!document.getElementById("banner").hidden`) {
		t.Errorf("the banner still shows after the right token: %q", eval[string](t, ctx, `document.getElementById("banner").textContent`))
	}
	// #token=… in the address works too, and leaves the address.
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`), chromedp.Navigate(srv.URL+"/#token=dashboard-token-0123456789"))
	waitFor(t, ctx, `document.querySelectorAll("#checks tbody tr[data-id]").length === 3`)
	if h := eval[string](t, ctx, `location.hash`); h != "" {
		t.Errorf("the token stayed in the address: %q", h)
	}
}

// The check page shows the SLOs covering the check — achieved, the budget
// left and the burn rates — as /api/v1/checks/{id}/slos has them.
func TestDashboardCheckPageSLOs(t *testing.T) {
	ctx := tab(t)
	st := embeddedtest.Store(t)
	a := New(st, slog.New(slog.DiscardHandler), 0)
	a.now = func() time.Time { return now }
	if err := a.SetSLOs([]SLO{
		{Name: "api-99", Checks: []string{"api"}, Objective: 0.99, Window: "7d"},
		{Name: "api-minutes", Checks: []string{"api"}, Objective: 0.999, Window: "30d", Budgeting: "timeslices"},
		{Name: "other", Checks: []string{"web"}, Objective: 0.9},
	}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	checkPageFixture(t, st)
	run(t, ctx, chromedp.Navigate(srv.URL+"/checks/api?range=24h"))
	waitFor(t, ctx, `document.querySelectorAll("#slo-table tbody tr[data-slo]").length === 2 && !document.getElementById("slos").hidden`)
	var got SLOsJSON
	get(t, srv.URL+"/api/v1/checks/api/slos", 200, &got)
	type row struct{ Name, Achieved, Budget, Burn1h string }
	shown := eval[[]row](t, ctx, `[...document.querySelectorAll("#slo-table tbody tr[data-slo]")].map(tr => ({Name: tr.dataset.slo,
  Achieved: tr.querySelector("td.achieved").textContent, Budget: tr.querySelector("td.budget").textContent,
  Burn1h: tr.querySelectorAll("td.burn")[2].textContent}))`)
	var want []row
	for _, s := range got.SLOs {
		f := s.Total
		b := "—"
		if f.ErrorBudget.RemainingFraction != nil {
			b = fmt.Sprintf("%.1f %% (%.1f of %.1f %s)", *f.ErrorBudget.RemainingFraction*100, f.ErrorBudget.Remaining, f.ErrorBudget.Total, f.ErrorBudget.Unit)
		}
		burn := "—"
		if f.BurnRates.H1 != nil {
			burn = fmt.Sprintf("%.2f×", *f.BurnRates.H1)
		}
		want = append(want, row{s.Name, pctText(f.Achieved), b, burn})
	}
	if len(want) != 2 || fmt.Sprint(shown) != fmt.Sprint(want) {
		t.Errorf("SLOs shown %+v\nthe API answers %+v", shown, want)
	}
	screenshot(t, ctx, "check-slos")
}
