package api

import (
	"context"
	"fmt"

	"bytes"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// getRaw GETs url, checks the answer is documented (status, content type,
// and a JSON body against its schema) and has wantStatus, and returns it.
func getRaw(t *testing.T, url string, wantStatus int) (http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	validateResponse(t, url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	return resp.Header, body
}

// newStatusServer is newServer with status pages.
func newStatusServer(t *testing.T, pages map[string]StatusPage) (*httptest.Server, *store.Store) {
	st := embeddedtest.Store(t)
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	a.now = func() time.Time { return now }
	a.SetStatusPages(pages)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

const day = 24 * time.Hour

// statusFixture: api (picked by id) up, with 3 of 4 runs three days ago and
// 2 of 2 today; shop (picked by label) down now, 10 of 10 yesterday; cart
// (by label) up, five days ago only a run the prober skipped (no data, not
// 100 %); blog, another team's, not on the page; old, picked by id, and
// idle, by label, quiet for three days (stale, still on the page); ghost,
// picked by id, never stored a result.
func statusFixture(t *testing.T, st *store.Store) {
	shop := map[string]string{"team": "shop"}
	rows := []store.ResultRow{
		row("api", "eu", 3*day, 200, 10), row("api", "eu", 3*day+time.Minute, 200, 10),
		row("api", "us", 3*day+2*time.Minute, 200, 10), fail(row("api", "us", 3*day+3*time.Minute, 500, 10), "FAILURE_CLASS_STATUS", "500"),
		row("api", "eu", time.Hour, 200, 10), row("api", "eu", 10*time.Second, 200, 10),
		labelled(fail(row("shop", "eu", 5*time.Second, 503, 30), "FAILURE_CLASS_STATUS", "status 503"), shop),
		labelled(row("cart", "eu", 3*time.Second, 200, 20), shop),
		labelled(row("blog", "eu", 3*time.Second, 200, 20), map[string]string{"team": "web"}),
		row("old", "eu", 3*day, 200, 10),
		labelled(row("idle", "eu", 3*day, 200, 10), shop),
	}
	for i := range 10 {
		rows = append(rows, labelled(row("shop", "us", day+time.Duration(i)*time.Minute, 200, 30), shop))
	}
	skipped := labelled(row("cart", "eu", 5*day, 0, 9000), shop)
	skipped.FailureClass = store.OverloadClass
	insert(t, st, append(rows, skipped)...)
}

var statusPages = map[string]StatusPage{
	"shop":  {Title: `Shop <b>status</b> & more`, Checks: []string{"api", "ghost", "old"}, Labels: map[string]string{"team": "shop"}},
	"quiet": {Checks: []string{"ghost"}},
}

// A status page lists its checks by id, then those its labels select, each
// with its current state and 90 days of daily uptime from the day rollups,
// a day without a run being "no data"; its banner is the worst of the states.
func TestStatusPageJSON(t *testing.T) {
	srv, st := newStatusServer(t, statusPages)
	statusFixture(t, st)
	var p StatusPageJSON
	h := get(t, srv.URL+"/api/v1/status/shop", 200, &p)
	if h.Get("Cache-Control") != statusCache {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
	if p.Slug != "shop" || p.Title != statusPages["shop"].Title || p.Status != PagePartialOutage || p.Banner != "Partial outage" ||
		!p.GeneratedAt.Equal(now) {
		t.Errorf("page %+v", p)
	}
	var ids, states []string
	for _, c := range p.Checks {
		ids, states = append(ids, c.ID), append(states, c.State)
		if len(c.Days) != StatusDays || c.Days[StatusDays-1].Date != now.Format(time.DateOnly) ||
			c.Days[0].Date != now.AddDate(0, 0, -(StatusDays-1)).Format(time.DateOnly) {
			t.Fatalf("%s: %d days, %s … %s", c.ID, len(c.Days), c.Days[0].Date, c.Days[len(c.Days)-1].Date)
		}
	}
	if strings.Join(ids, ",") != "api,ghost,old,cart,idle,shop" || strings.Join(states, ",") != "up,stale,stale,up,stale,down" {
		t.Fatalf("checks %v, states %v", ids, states)
	}
	// Each day's figures, and nothing on the other days.
	want := map[string]map[int][2]uint64{
		"api":  {StatusDays - 4: {4, 3}, StatusDays - 1: {2, 2}},
		"shop": {StatusDays - 2: {10, 10}, StatusDays - 1: {1, 0}},
		"cart": {StatusDays - 1: {1, 1}},
		"old":  {StatusDays - 4: {1, 1}},
		"idle": {StatusDays - 4: {1, 1}},
	}
	for _, c := range p.Checks {
		var runs, ok uint64
		for i, d := range c.Days {
			w := want[c.ID][i]
			runs, ok = runs+w[0], ok+w[1]
			switch {
			case d.Runs != w[0] || d.Successes != w[1]:
				t.Errorf("%s %s: %d/%d, want %d/%d", c.ID, d.Date, d.Successes, d.Runs, w[1], w[0])
			case w[0] == 0 && d.Uptime != nil:
				t.Errorf("%s %s: uptime %v on a day without a run, want null", c.ID, d.Date, *d.Uptime)
			case w[0] > 0 && (d.Uptime == nil || *d.Uptime != float64(w[1])/float64(w[0])):
				t.Errorf("%s %s: uptime %v, want %d/%d", c.ID, d.Date, d.Uptime, w[1], w[0])
			}
		}
		if runs == 0 && c.Uptime != nil || runs > 0 && (c.Uptime == nil || *c.Uptime != float64(ok)/float64(runs)) {
			t.Errorf("%s: 90-day uptime %v, want %d/%d", c.ID, c.Uptime, ok, runs)
		}
	}
	if g := p.Checks[1]; g.Name != "ghost" || g.LastChecked != nil {
		t.Errorf("ghost %+v", g)
	}
	if o := p.Checks[2]; o.Name != "Name old" || o.LastChecked == nil || !o.LastChecked.Equal(now.Add(-3*day)) {
		t.Errorf("old %+v", o)
	}
	if a := p.Checks[0]; a.Name != "Name api" || a.LastChecked == nil || !a.LastChecked.Equal(now.Add(-10*time.Second)) {
		t.Errorf("api %+v", a)
	}
	// The same figures as the raw rows of each day.
	raw, err := st.DailyUptimeFromRaw(t.Context(), []string{"api", "shop", "cart", "old", "idle"}, now.AddDate(0, 0, -(StatusDays-1)), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range raw {
		for _, c := range p.Checks {
			if c.ID != r.CheckID {
				continue
			}
			d := c.Days[StatusDays-1-int(now.Truncate(day).Sub(r.Day)/day)]
			if d.Date != r.Day.Format(time.DateOnly) || d.Runs != r.Runs || d.Successes != r.Successes {
				t.Errorf("%s %s: page %+v, raw rows %+v", c.ID, d.Date, d, r)
			}
		}
	}

	var q StatusPageJSON
	get(t, srv.URL+"/api/v1/status/quiet", 200, &q)
	if q.Title != "quiet" || q.Status != PageUnknown || q.Banner != "No recent data" || len(q.Checks) != 1 {
		t.Errorf("quiet %+v", q)
	}
	var prob Problem
	get(t, srv.URL+"/api/v1/status/nope", 404, &prob)
	if !strings.Contains(prob.Detail, `"nope"`) {
		t.Errorf("unknown slug: %+v", prob)
	}
}

// The overall state: unknown without a reporting check, a major outage when
// every reporting one is down, partial when some are, degraded when some
// are degraded or silent.
func TestPageStatus(t *testing.T) {
	for _, c := range []struct {
		states, status, banner string
	}{
		{"", PageUnknown, "No recent data"},
		{"stale,stale", PageUnknown, "No recent data"},
		{"down,stale", PageMajorOutage, "Major outage"},
		{"down,down", PageMajorOutage, "Major outage"},
		{"down,up,degraded", PagePartialOutage, "Partial outage"},
		{"up,degraded", PageDegraded, "Degraded performance"},
		{"up,stale", PageDegraded, "Some systems are not reporting"},
		{"up,up", PageOperational, "All systems operational"},
	} {
		var checks []StatusCheckJSON
		for _, s := range strings.Split(c.states, ",") {
			if s != "" {
				checks = append(checks, StatusCheckJSON{State: s})
			}
		}
		if s, b := pageStatus(checks); s != c.status || b != c.banner {
			t.Errorf("%q: %s %q, want %s %q", c.states, s, b, c.status, c.banner)
		}
	}
}

// htmlNode is an element of a parsed page.
type htmlNode struct {
	name  string
	attrs map[string]string
	text  string
}

// parseHTML reads the page's elements in order, with their text, as a
// browser would (void elements, entities).
func parseHTML(t *testing.T, body []byte) []*htmlNode {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var out, open []*htmlNode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("page does not parse: %v\n%s", err, body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &htmlNode{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			out, open = append(out, n), append(open, n)
		case xml.EndElement:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		case xml.CharData:
			for _, n := range open {
				n.text += string(tok)
			}
		}
	}
}

func hasClass(n *htmlNode, c string) bool {
	return strings.Contains(" "+n.attrs["class"]+" ", " "+c+" ")
}

// The HTML page shows what the JSON says: the title (escaped), the banner,
// each check's name and state, and 90 bars whose colour, day and tooltip
// give each day's uptime; it needs no script and loads nothing else.
func TestStatusPageHTML(t *testing.T) {
	srv, st := newStatusServer(t, statusPages)
	statusFixture(t, st)
	var p StatusPageJSON
	get(t, srv.URL+"/api/v1/status/shop", 200, &p)
	h, body := getRaw(t, srv.URL+"/status/shop", 200)
	if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != statusCache ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("headers %v", h)
	}
	for _, bad := range []string{"<script", "<b>", "http://", "https://", "src="} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}
	nodes := parseHTML(t, body)
	var checks []*htmlNode
	var bars [][]*htmlNode
	var banner, title string
	for _, n := range nodes {
		switch {
		case n.name == "h1":
			title = n.text
		case hasClass(n, "banner"):
			banner = strings.TrimSpace(n.text)
			if n.attrs["data-status"] != p.Status {
				t.Errorf("banner status %q, want %q", n.attrs["data-status"], p.Status)
			}
		case n.name == "li" && hasClass(n, "check"):
			checks, bars = append(checks, n), append(bars, nil)
		case n.name == "li" && hasClass(n, "bar"):
			bars[len(bars)-1] = append(bars[len(bars)-1], n)
		case n.name == "meta" && n.attrs["name"] == "viewport" && !strings.Contains(n.attrs["content"], "width=device-width"):
			t.Errorf("viewport %q", n.attrs["content"])
		}
	}
	if title != p.Title || banner != p.Banner {
		t.Errorf("title %q, banner %q; want %q, %q", title, banner, p.Title, p.Banner)
	}
	if len(checks) != len(p.Checks) {
		t.Fatalf("%d checks on the page, %d in the JSON", len(checks), len(p.Checks))
	}
	states := map[string]string{StateUp: "Operational", StateDown: "Down", StateStale: "No recent data"}
	for i, c := range p.Checks {
		n := checks[i]
		if n.attrs["data-check"] != c.ID || n.attrs["data-state"] != c.State || !strings.Contains(n.text, c.Name) ||
			!strings.Contains(n.text, states[c.State]) {
			t.Errorf("check %d on the page %+v, JSON %s %s %s", i, n.attrs, c.ID, c.Name, c.State)
		}
		if len(bars[i]) != StatusDays {
			t.Fatalf("%s: %d bars", c.ID, len(bars[i]))
		}
		for j, d := range c.Days {
			b := bars[i][j]
			wantTitle := d.Date + ": no data"
			if d.Uptime != nil {
				wantTitle = d.Date + ": " + percent(*d.Uptime) + " up, " + strconv.FormatUint(d.Successes, 10) + " of " +
					strconv.FormatUint(d.Runs, 10) + " runs"
				if u, err := strconv.ParseFloat(b.attrs["data-uptime"], 64); err != nil || u != *d.Uptime {
					t.Errorf("%s %s: bar uptime %q, want %v", c.ID, d.Date, b.attrs["data-uptime"], *d.Uptime)
				}
			} else if b.attrs["data-uptime"] != "" {
				t.Errorf("%s %s: bar uptime %q on a day without data", c.ID, d.Date, b.attrs["data-uptime"])
			}
			if b.attrs["data-date"] != d.Date || b.attrs["title"] != wantTitle || !hasClass(b, uptimeClass(d.Uptime)) {
				t.Errorf("%s day %d: bar %+v, want %s %q class %s", c.ID, j, b.attrs, d.Date, wantTitle, uptimeClass(d.Uptime))
			}
		}
	}
	// The fixture's days as a person reads them.
	if got := bars[0][StatusDays-4].attrs["title"]; got != now.AddDate(0, 0, -3).Format(time.DateOnly)+": 75.00 % up, 3 of 4 runs" ||
		!hasClass(bars[0][StatusDays-4], "bad") || !hasClass(bars[0][StatusDays-1], "good") || !hasClass(bars[0][0], "none") {
		t.Errorf("api's bars: %q %v %v", got, bars[0][StatusDays-4].attrs, bars[0][StatusDays-1].attrs)
	}
	if _, body := getRaw(t, srv.URL+"/status/nope", 404); !bytes.Contains(body, []byte(`status page \"nope\"`)) {
		t.Errorf("unknown slug: %s", body)
	}
}

// Uptimes for people are rounded down: a day with one failure in 100,000
// runs is not 100 %.
func TestPercentRoundsDown(t *testing.T) {
	for u, want := range map[float64]string{1: "100 %", 0.99999: "99.99 %", 0.75: "75.00 %", 0: "0.00 %", 0.123456: "12.34 %"} {
		if got := percent(u); got != want {
			t.Errorf("percent(%v) = %q, want %q", u, got, want)
		}
	}
}

// In a real browser the public status page shows, for every check the API
// lists, its state and its 90 daily bars laid out in one row on a laptop
// and on a phone, with the API's banner.
func TestStatusPageInTheBrowser(t *testing.T) {
	ctx := tab(t)
	srv, st := newStatusServer(t, statusPages)
	statusFixture(t, st)
	var p StatusPageJSON
	get(t, srv.URL+"/api/v1/status/shop", 200, &p)
	type shown struct {
		ID, State string
		Bars      int
		Rows      int // distinct vertical positions of the bars: 1 when they fit on one line
	}
	const js = `[...document.querySelectorAll("li.check")].map(li => ({ID: li.dataset.check, State: li.dataset.state,
  Bars: li.querySelectorAll("ol.bars li.bar").length,
  Rows: new Set([...li.querySelectorAll("ol.bars li.bar")].map(b => Math.round(b.getBoundingClientRect().top))).size}))`
	var want []shown
	for _, c := range p.Checks {
		want = append(want, shown{c.ID, c.State, StatusDays, 1})
	}
	for _, device := range []struct {
		name string
		set  func(context.Context) error
	}{{"laptop", laptop}, {"phone", phone}} {
		if err := device.set(ctx); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, chromedp.Navigate(srv.URL+"/status/shop"))
		waitFor(t, ctx, `document.querySelectorAll("li.check").length > 0`)
		if got := eval[[]shown](t, ctx, js); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the page shows %+v, the API has %+v", device.name, got, want)
		}
		if banner := eval[string](t, ctx, `document.querySelector(".banner").textContent.trim()`); banner != p.Banner {
			t.Errorf("%s: banner %q, want %q", device.name, banner, p.Banner)
		}
		screenshot(t, ctx, "status-"+device.name)
	}
	if err := laptop(ctx); err != nil {
		t.Fatal(err)
	}
}
