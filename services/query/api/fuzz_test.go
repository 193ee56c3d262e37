package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// Whatever a client puts in the URL — the check id in the path, window,
// from, to, location, check_id, limit, anything else — the API answers 2xx
// with JSON or 4xx with a problem document whose status matches: never a
// 5xx (a store error caused by a parameter, a panic), through the chi router
// and the embedded engine; and every answer is one the OpenAPI document
// describes.
func FuzzQueryParams(f *testing.F) {
	st := embeddedtest.Store(f)
	var rows []store.ResultRow
	for i := range 30 {
		r := row("api", []string{"eu", "us"}[i%2], time.Duration(i)*time.Minute, []uint16{200, 200, 503}[i%3], float64(10+i))
		if i%7 == 0 {
			r.FailureClass = store.OverloadClass
		}
		rows = append(rows, r)
	}
	ctx := context.Background()
	if err := st.InsertResults(ctx, rows); err != nil {
		f.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"api"}, now.Add(-time.Hour), now); err != nil {
		f.Fatal(err)
	}
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	a.now = func() time.Time { return now }
	if err := a.SetSLOs([]SLO{{Name: "api", Checks: []string{"api"}, Labels: []string{"team:web"}, Objective: 0.99},
		{Name: "api.slices", Checks: []string{"api"}, Objective: 0.999, Budgeting: "timeslices"}}); err != nil {
		f.Fatal(err)
	}
	h := a.Handler()

	for _, seed := range []struct {
		endpoint uint8
		check    string
		query    string
	}{
		{0, "api", "window=10m"},
		{0, "api", "window=2d&location=eu"},
		{0, "api", "window=213504d"},
		{0, "api", "window=106752d"},
		{0, "api", "window=-99999999999999999999d"},
		{0, "api", "window=9999999999h"},
		{0, "api", "window=1.5h"},
		{0, "api", "window=0"},
		{0, "api", "from=2026-11-22T10:00:00Z&to=2026-11-22T11:00:00.123456789+05:30"},
		{0, "api", "from=0&to=99999999999"},
		{0, "api", "from=-62135596800"},
		{0, "api", "from=1&to=1"},
		{0, "api", "to=5"},
		{0, "api", "location=%00%09%0A%5C%27%22"},
		{0, "api", "location=" + url.QueryEscape("日本 ✓") + "&window=1h"},
		{0, "api", "window=10m&window=1h&location=eu&location=us"},
		{0, "api", "%zz=1&window=%"},
		{0, `it's \ a "check"` + "\t\n", "window=1h"},
		{0, "nope", ""},
		{0, "", "window=1h"},
		{0, "a/b", ""},
		{1, "", "window=24h"},
		{1, "", "from=1e9"},
		{2, "", "check_id=api&limit=1"},
		{2, "", "check_id=%5C%27&limit=99999999999999999999"},
		{2, "", "limit=-1&window=7d"},
		{3, "", "window=1h"},
		{4, "", "label=team:web&state=down,up&limit=1"},
		{4, "", "cursor=eyJhZnRlciI6ImFwaSJ9&label=%00:%27"},
		{5, "api", ""},
		{6, "api", "failures=true&limit=1&cursor=eyJ0IjoiMjAyNi0xMS0yOVQxMTo1OTowMFoiLCJsIjoiZXUiLCJyIjoieCJ9"},
		{6, "api", "cursor=bm90IGpzb24"},
		{7, "api", "figure=p95&window=400d&step=1d"},
		{7, "api", "figure=runs&step=99999999999999999999m"},
		{8, "", ""},
		{2, "", "state=down&rule=%27&cursor=e30"},
		{4, "", "q=PA&state=down&label=team:payments"},
		{1, "", "q=%00%27%22%E2%9C%93&q=x"},
		{4, "", "q=" + strings.Repeat("%C3%A9", 201)},
		{9, "api", ""},
		{9, "api.slices", ""},
		{9, "nope", ""},
		{10, "api", ""},
		{10, "nope", ""},
		{10, `it's \ a "check"`, ""},
	} {
		f.Add(seed.endpoint, seed.check, seed.query)
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, check, rawQuery string) {
		var path string
		switch endpoint % 11 {
		case 0:
			path = "/api/v1/checks/" + url.PathEscape(check) + "/stats"
		case 1:
			path = "/api/v1/checks"
		case 2:
			path = "/api/v1/alerts"
		case 3:
			path = "/api/v1/" + url.PathEscape(check)
		case 4:
			path = "/api/v1/overview"
		case 5:
			path = "/api/v1/checks/" + url.PathEscape(check)
		case 6:
			path = "/api/v1/checks/" + url.PathEscape(check) + "/results"
		case 7:
			path = "/api/v1/checks/" + url.PathEscape(check) + "/series"
		case 8:
			path = "/api/v1/alerts/open"
		case 9:
			path = "/api/v1/slos/" + url.PathEscape(check)
		case 10:
			path = "/api/v1/checks/" + url.PathEscape(check) + "/slos"
		}
		u, err := url.Parse(path)
		if err != nil {
			t.Skip("no client can send this path: it does not parse as a URL") // the router is never reached
		}
		u.RawQuery = rawQuery
		req := httptest.NewRequest("GET", "/", nil)
		req.URL, req.RequestURI = u, u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		ct, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		body := rec.Body.Bytes()
		if rec.Code < 500 {
			validateAt(t, u.String(), u.EscapedPath(), rec.Code, rec.Header().Get("Content-Type"), body)
		}
		switch {
		case rec.Code >= 200 && rec.Code < 300:
			if ct != "application/json" || !json.Valid(body) {
				t.Fatalf("GET %s: %d %s %q: want JSON", u, rec.Code, ct, body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var p Problem
			if ct != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != rec.Code || p.Detail == "" ||
				(rec.Code == 400 && p.Param == "") {
				t.Fatalf("GET %s: %d %s %q: want a problem document", u, rec.Code, ct, body)
			}
		default:
			t.Fatalf("GET %s: %d %q: want 2xx or 4xx", u, rec.Code, strings.TrimSpace(string(body)))
		}
	})
}

// Whatever a tokens file holds, parsing it never panics, and every token it
// accepts is one a bearer header can carry and the guard then accepts.
func FuzzTokensFile(f *testing.F) {
	f.Add([]byte("# tokens\n\n  token-a-0123456789abcdef  \r\ntoken-b-0123456789abcdef\n"))
	f.Add([]byte(""))
	f.Add([]byte("short\n"))
	f.Add([]byte("token with spaces inside it\n"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tokens, err := parseTokens(b)
		if err != nil {
			return
		}
		if err := (AuthConfig{Tokens: tokens}).Validate("auth"); err != nil {
			t.Fatalf("parsed tokens refused: %v", err)
		}
		ts := newTokenSet(tokens)
		for _, tok := range tokens {
			got, ok := bearer("Bearer " + tok)
			if !ok || got != tok {
				t.Fatalf("token %q does not survive a header: %q %v", tok, got, ok)
			}
			if _, ok := ts.match(got); !ok {
				t.Fatalf("token %q not accepted", tok)
			}
		}
	})
}

// Whatever a client sends as Authorization and X-Forwarded-For, and
// whatever the peer, the guard answers (never panics) with a status it
// documents, and a forwarded address is only believed from a trusted peer.
func FuzzGuardHeaders(f *testing.F) {
	f.Add("Bearer token-a-0123456789abcdef", "198.51.100.7", "10.0.0.1:5")
	f.Add("bearer  x", "6.6.6.6, [2001:db8::1]:80, nonsense", "[::ffff:10.0.0.1]:5")
	f.Add("", "", "pipe")
	trusted, _ := parsePrefixes([]string{"10.0.0.0/8"})
	cfg := DefaultAccess()
	cfg.Auth.Tokens = []string{tokenA}
	cfg.RateLimit.RequestsPerSecond, cfg.RateLimit.Burst, cfg.RateLimit.TrustedProxies = 1000, 1000, []string{"10.0.0.0/8"}
	g, err := NewGuard(cfg, "", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		f.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	f.Fuzz(func(t *testing.T, auth, xff, remote string) {
		r := httptest.NewRequest("GET", "/api/v1/alerts", nil)
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Forwarded-For", xff)
		r.RemoteAddr = remote
		if ip := clientIP(r, trusted); ip != remote && !isTrusted(peerAddr(remote), trusted) && ip != peerAddr(remote).String() {
			t.Fatalf("client %q from untrusted peer %q", ip, remote)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 401 && w.Code != 429 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
