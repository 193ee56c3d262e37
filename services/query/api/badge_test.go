package api

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"mime"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// badgeElements are the only elements a badge may contain.
var badgeElements = []string{"svg", "title", "linearGradient", "stop", "clipPath", "rect", "g", "text"}

// badgeTexts parses a badge as strict XML and returns the texts it shows
// (label, message), failing on any element or attribute a badge does not
// have.
func badgeTexts(t testing.TB, body []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(body))
	var texts []string
	var inText, hidden bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("badge is not XML: %v\n%s", err, body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if !slices.Contains(badgeElements, tok.Name.Local) {
				t.Fatalf("badge has a <%s>: %s", tok.Name.Local, body)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") || a.Name.Local == "href" {
					t.Fatalf("badge has an attribute %s: %s", a.Name.Local, body)
				}
			}
			if tok.Name.Local == "text" {
				inText, hidden = true, false
				for _, a := range tok.Attr {
					hidden = hidden || a.Name.Local == "aria-hidden"
				}
				if !hidden {
					texts = append(texts, "")
				}
			}
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText && !hidden {
				texts[len(texts)-1] += string(tok)
			}
		}
	}
	if len(texts) != 2 {
		t.Fatalf("badge shows %d texts, want 2: %s", len(texts), body)
	}
	return texts
}

// getBadge GETs a badge and checks it is a documented SVG badge answer.
func getBadge(t *testing.T, url string, wantStatus int) []string {
	t.Helper()
	h, body := getRaw(t, url, wantStatus)
	if h.Get("Content-Type") != "image/svg+xml" || h.Get("Cache-Control") != statusCache || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: headers %v", url, h)
	}
	return badgeTexts(t, body)
}

// The badges show a check's state, its uptime and a response-time
// percentile over a window: the same figures as the check and stats
// endpoints, as valid SVG with the right type and a short cache.
func TestBadges(t *testing.T) {
	srv, st := newServer(t)
	var rows []store.ResultRow
	for i := range 40 {
		r := row("api", []string{"eu", "us"}[i%2], time.Duration(i)*17*time.Minute+2*time.Second, 200, float64(20+i*i))
		if i%9 == 4 {
			r = fail(r, "FAILURE_CLASS_STATUS", "500")
		}
		rows = append(rows, r)
	}
	insert(t, st, rows...)
	var c CheckJSON
	get(t, srv.URL+"/api/v1/checks/api", 200, &c)
	if got := getBadge(t, srv.URL+"/badge/api/state.svg", 200); got[0] != "Name api" || got[1] != c.State {
		t.Errorf("state badge %q, check state %s", got, c.State)
	}
	for _, w := range []string{"24h", "3h", "10m"} {
		var s StatsJSON
		get(t, srv.URL+"/api/v1/checks/api/stats?window="+w, 200, &s)
		if s.Samples == 0 && w != "10m" {
			t.Fatalf("no samples in %s", w)
		}
		want := strings.ReplaceAll(percent(s.Availability), " ", "")
		if s.Samples == 0 {
			want = "no data"
		}
		if got := getBadge(t, srv.URL+"/badge/api/uptime.svg?window="+w, 200); got[0] != "uptime "+w || got[1] != want {
			t.Errorf("uptime badge over %s %q, want %q (stats %v)", w, got, want, s.Availability)
		}
		for p, v := range map[string]float64{"50": s.ResponseTimeMS.P50, "95": s.ResponseTimeMS.P95, "99": s.ResponseTimeMS.P99} {
			want := milliseconds(v)
			if s.Samples == 0 {
				want = "no data"
			}
			if got := getBadge(t, srv.URL+"/badge/api/response-time.svg?window="+w+"&percentile="+p, 200); got[0] != "p"+p+" "+w || got[1] != want {
				t.Errorf("p%s badge over %s %q, want %q", p, w, got, want)
			}
		}
	}
	var s StatsJSON
	get(t, srv.URL+"/api/v1/checks/api/stats?window=24h", 200, &s)
	if got := getBadge(t, srv.URL+"/badge/api/response-time.svg", 200); got[0] != "p95 24h" || got[1] != milliseconds(s.ResponseTimeMS.P95) {
		t.Errorf("default response-time badge %q, p95 %v", got, s.ResponseTimeMS.P95)
	}
	if got := getBadge(t, srv.URL+"/badge/api/uptime.svg?label=API+uptime", 200); got[0] != "API uptime" {
		t.Errorf("labelled badge %q", got)
	}
	from := now.Add(-5 * day).Format(time.RFC3339)
	if got := getBadge(t, srv.URL+"/badge/api/uptime.svg?from="+from+"&to="+now.Add(-4*day).Format(time.RFC3339), 200); got[0] != "uptime" || got[1] != "no data" {
		t.Errorf("a range without runs: %q", got)
	}

	// Bad parameters are problems naming them; an unknown check a 404 badge.
	for q, param := range map[string]string{"uptime.svg?window=nope": "window", "uptime.svg?window=1h&from=0": "window",
		"response-time.svg?percentile=42": "percentile", "response-time.svg?window=-1h": "window", "uptime.svg?from=x": "from"} {
		var p Problem
		get(t, srv.URL+"/badge/api/"+q, 400, &p)
		if p.Param != param {
			t.Errorf("%s: %+v, want param %s", q, p, param)
		}
	}
	for _, b := range []string{"state.svg", "uptime.svg", "response-time.svg"} {
		if got := getBadge(t, srv.URL+"/badge/nope/"+b, 404); got[1] != "unknown check" {
			t.Errorf("%s of an unknown check: %q", b, got)
		}
	}
	var p Problem
	get(t, srv.URL+"/badge//state.svg", 404, &p)
}

// Whatever a check's id, name or the label parameter hold, a badge shows it
// as text: no markup gets in.
func TestBadgesEscapeText(t *testing.T) {
	srv, st := newServer(t)
	id := `x<y>&"z'`
	name := `<script>alert(1)</script><text onload="x">`
	r := row(id, "eu", 2*time.Second, 200, 10)
	r.CheckName = name
	insert(t, st, r)
	base := srv.URL + "/badge/" + url.PathEscape(id)
	if got := getBadge(t, base+"/state.svg", 200); got[0] != name || got[1] != "up" {
		t.Errorf("state badge %q", got)
	}
	label := `</text><svg onload=alert(1)>&amp;`
	if got := getBadge(t, base+"/uptime.svg?label="+url.QueryEscape(label), 200); got[0] != label || got[1] != "100%" {
		t.Errorf("uptime badge %q", got)
	}
	unknown := `<svg onload=alert(1)>`
	if got := getBadge(t, srv.URL+"/badge/"+url.PathEscape(unknown)+"/state.svg", 404); got[0] != unknown || got[1] != "unknown check" {
		t.Errorf("unknown check's badge %q", got)
	}
	_, body := getRaw(t, base+"/state.svg", 200)
	if bytes.Contains(body, []byte("<script")) || bytes.Contains(body, []byte("<text onload")) {
		t.Errorf("markup got in: %s", body)
	}
	long := strings.Repeat("a", 500)
	if got := getBadge(t, base+"/state.svg?label="+long, 200); utf8.RuneCountInString(got[0]) != maxBadgeText+1 ||
		!strings.HasSuffix(got[0], "…") {
		t.Errorf("a 500-character label: %d characters", utf8.RuneCountInString(got[0]))
	}
}

// Any label and message render as a well-formed badge of the allowed
// elements only, showing exactly the texts given (made fit: control
// characters and invalid UTF-8 as U+FFFD, at most maxBadgeText characters),
// and never panic.
func FuzzBadge(f *testing.F) {
	for _, s := range [][2]string{{"status", "up"}, {`<script>`, `]]>&amp;"'`}, {"\x00\x1b\xff\ufffe", "\U0001F600 \u202e"},
		{strings.Repeat("é", 70), ""}, {"a\r\nb", "\t"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, label, message string) {
		got := badgeTexts(t, badge(label, message, badgeGreen))
		if got[0] != badgeText(label) || got[1] != badgeText(message) {
			t.Fatalf("badge shows %q, want %q, %q", got, badgeText(label), badgeText(message))
		}
		for _, s := range got {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxBadgeText+1 {
				t.Fatalf("text %q", s)
			}
		}
	})
}

// Whatever a client puts in a badge's or a status page's URL — the check id
// or slug, window, from, to, percentile, label, anything else — the answer is
// a badge (200, or 404 for an unknown check), a page, or a problem document
// naming the parameter: never a 5xx or a panic, always as documented.
func FuzzPublicRoutes(f *testing.F) {
	st := embeddedtest.Store(f)
	var rows []store.ResultRow
	for i := range 20 {
		rows = append(rows, row("api", []string{"eu", "us"}[i%2], time.Duration(i)*7*time.Minute, []uint16{200, 200, 503}[i%3], float64(10+i)))
	}
	ctx := context.Background()
	if err := st.InsertResults(ctx, rows); err != nil {
		f.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"api"}, now.Add(-3*time.Hour), now); err != nil {
		f.Fatal(err)
	}
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	a.now = func() time.Time { return now }
	a.SetStatusPages(map[string]StatusPage{"shop": {Checks: []string{"api", "ghost"}, Labels: map[string]string{"team": "x"}}})
	h := a.Handler()
	for _, seed := range []struct {
		endpoint  uint8
		id, query string
	}{
		{0, "api", ""}, {0, "<svg>", "label=%3C%2Ftext%3E"}, {1, "api", "window=24h"}, {1, "api", "window=213504d"},
		{1, "api", "from=0&to=99999999999"}, {1, "nope", "window=1h&from=1"}, {2, "api", "percentile=99&window=7d"},
		{2, "api", "percentile=%00"}, {2, "", ""}, {3, "shop", ""}, {3, "nope", ""}, {4, "shop", "x=1"}, {4, "%zz", ""},
	} {
		f.Add(seed.endpoint, seed.id, seed.query)
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, id, rawQuery string) {
		path := "/badge/" + url.PathEscape(id) + "/" + []string{"state.svg", "uptime.svg", "response-time.svg", "", ""}[endpoint%5]
		switch endpoint % 5 {
		case 3:
			path = "/api/v1/status/" + url.PathEscape(id)
		case 4:
			path = "/status/" + url.PathEscape(id)
		}
		u, err := url.Parse(path)
		if err != nil {
			t.Skip("no client can send this path: it does not parse as a URL")
		}
		u.RawQuery = rawQuery
		req := httptest.NewRequest("GET", "/", nil)
		req.URL, req.RequestURI = u, u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		ct, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		body := rec.Body.Bytes()
		if rec.Code >= 500 {
			t.Fatalf("GET %s: %d %q", u, rec.Code, body)
		}
		validateAt(t, u.String(), u.EscapedPath(), rec.Code, rec.Header().Get("Content-Type"), body)
		switch ct {
		case "image/svg+xml":
			badgeTexts(t, body)
		case "application/problem+json":
			var p Problem
			if json.Unmarshal(body, &p) != nil || p.Status != rec.Code || (rec.Code == 400 && p.Param == "") {
				t.Fatalf("GET %s: %d %q: want a problem document", u, rec.Code, body)
			}
		case "application/json", "text/html":
			if rec.Code != 200 {
				t.Fatalf("GET %s: %d %s", u, rec.Code, ct)
			}
		default:
			t.Fatalf("GET %s: %d %s %q", u, rec.Code, ct, body)
		}
	})
}
