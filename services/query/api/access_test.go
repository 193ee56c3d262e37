package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	tokenA = "token-a-0123456789abcdef"
	tokenB = "token-b-0123456789abcdef"
)

// fakeClock is the rate limit's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// guarded is the API over an empty store behind cfg's guard, with a stub
// of a route other packages add (the status page), so public prefixes are
// tried on a route the API itself does not have.
func guarded(t *testing.T, cfg AccessConfig, clock *fakeClock) (http.Handler, *Guard) {
	t.Helper()
	_, st := newServer(t)
	a := New(st, slog.New(slog.DiscardHandler), 0)
	a.now = func() time.Time { return now }
	api := a.Handler()
	// Like the router, it routes the path as it comes (no cleaning).
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok && r.Method == http.MethodGet && !strings.Contains(rest, "/") {
			io.WriteString(w, "status page")
			return
		}
		api.ServeHTTP(w, r)
	})
	var c func() time.Time
	if clock != nil {
		c = clock.now
	}
	g, err := NewGuard(cfg, "", slog.New(slog.DiscardHandler), c)
	if err != nil {
		t.Fatal(err)
	}
	return g.Wrap(mux), g
}

type answer struct {
	status int
	header http.Header
	body   string
}

// serve sends r to h and, for the API's own routes, validates the answer
// against the OpenAPI document.
func serve(t *testing.T, h http.Handler, r *http.Request) answer {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/status/") {
		validateAt(t, r.URL.String(), r.URL.EscapedPath(), res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	return answer{res.StatusCode, res.Header, string(body)}
}

func request(method, path string, header ...string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// Without tokens every route is open, whatever Authorization says.
func TestAuthOffServesEveryRoute(t *testing.T) {
	h, _ := guarded(t, DefaultAccess(), nil)
	for _, r := range []*http.Request{request("GET", "/api/v1/alerts"), request("GET", "/api/v1/alerts", "Authorization", "Bearer whatever")} {
		if a := serve(t, h, r); a.status != 200 || a.header.Get("WWW-Authenticate") != "" {
			t.Fatalf("%v: %d %s", r.Header, a.status, a.body)
		}
	}
}

// With tokens, a private route needs one of them (from the config or the
// file); a missing or wrong one is a 401 problem with a Bearer challenge;
// the public routes — the dashboard page, the document, the stubbed status
// page — are served without one, for reading only.
func TestAuthTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# on-call laptops\n\n  "+tokenB+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultAccess()
	cfg.Auth.Tokens = []string{tokenA}
	cfg.Auth.TokensFile = file
	h, g := guarded(t, cfg, nil)

	for _, c := range []struct {
		name, method, path, auth string
		want                     int
		challenge                string
	}{
		{"no token", "GET", "/api/v1/alerts", "", 401, `Bearer realm="picket"`},
		{"wrong token", "GET", "/api/v1/alerts", "Bearer " + tokenA + "x", 401, `Bearer realm="picket", error="invalid_token"`},
		{"a prefix of a token", "GET", "/api/v1/alerts", "Bearer " + tokenA[:16], 401, `Bearer realm="picket", error="invalid_token"`},
		{"another scheme", "GET", "/api/v1/alerts", "Basic " + tokenA, 401, `Bearer realm="picket", error="invalid_token"`},
		{"config token", "GET", "/api/v1/alerts", "Bearer " + tokenA, 200, ""},
		{"file token, scheme in lower case", "GET", "/api/v1/alerts/open", "bearer " + tokenB, 200, ""},
		{"unknown route without token", "GET", "/api/v1/nothing", "", 401, `Bearer realm="picket"`},
		{"dashboard", "GET", "/", "", 200, ""},
		{"document", "GET", "/api/v1/openapi.json", "", 200, ""},
		{"status page stub", "GET", "/status/public", "", 200, ""},
		{"status page with a wrong token", "GET", "/status/public", "Bearer nope", 200, ""},
		{"not under the prefix", "GET", "/statusx", "", 401, `Bearer realm="picket"`},
		{"public route, not for writing", "POST", "/status/public", "", 401, `Bearer realm="picket"`},
		{"dot segments do not reach a private route", "GET", "/status/../api/v1/alerts", "", 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := request(c.method, c.path)
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			a := serve(t, h, r)
			if a.status != c.want || a.header.Get("WWW-Authenticate") != c.challenge {
				t.Fatalf("%d %q %s, want %d %q", a.status, a.header.Get("WWW-Authenticate"), a.body, c.want, c.challenge)
			}
			if c.want == 401 && (a.header.Get("Content-Type") != "application/problem+json" || strings.Contains(a.body, tokenA)) {
				t.Fatalf("401 %s: %s", a.header.Get("Content-Type"), a.body)
			}
			if c.want == 404 && strings.Contains(a.body, `"alerts"`) {
				t.Fatalf("a private route's data under a public prefix: %s", a.body)
			}
		})
	}
	if n := testutil.ToFloat64(g.rejected.WithLabelValues("unauthorized")); n != 7 {
		t.Errorf("unauthorized counted %v, want 7", n)
	}
}

// auth.public replaces the defaults: the dashboard can be made private.
func TestAuthPublicIsConfigured(t *testing.T) {
	cfg := DefaultAccess()
	cfg.Auth.Tokens = []string{tokenA}
	cfg.Auth.Public = []string{"/status/*"}
	h, _ := guarded(t, cfg, nil)
	if a := serve(t, h, request("GET", "/")); a.status != 401 {
		t.Fatalf("dashboard: %d", a.status)
	}
	if a := serve(t, h, request("GET", "/status/x")); a.status != 200 {
		t.Fatalf("status page: %d", a.status)
	}
}

// A tokens file that cannot be read or holds no usable token stops the
// start with an error naming the key (and the line, never the token).
func TestTokensFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	empty := write("empty", "")
	comments := write("comments", "# none yet\n\n")
	short := write("short", tokenA+"\nshort-secret\n")
	spaced := write("spaced", "token with spaces in the middle\n")
	for file, want := range map[string]string{
		missing:  "auth.tokens_file: open " + missing + ": no such file or directory",
		empty:    "auth.tokens_file " + empty + ": no token in the file",
		comments: "auth.tokens_file " + comments + ": no token in the file",
		short:    "auth.tokens_file " + short + ": line 2: a token of 12 characters is shorter than the minimum 16",
		spaced:   "auth.tokens_file " + spaced + ": line 1: a token must not contain spaces or control characters",
	} {
		cfg := DefaultAccess()
		cfg.Auth.TokensFile = file
		_, err := NewGuard(cfg, "", slog.New(slog.DiscardHandler), nil)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", filepath.Base(file), err, want)
		}
		if err != nil && strings.Contains(err.Error(), "short-secret") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc": "abc", " Bearer abc ": "abc",
		"Bearer": "", "Bearer ": "", "Basic abc": "", "Bearer a b": "", "": "", "Bearerabc": "",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}

// No CORS configured: no CORS header on any answer, and a preflight is
// not answered as one.
func TestCORSOff(t *testing.T) {
	h, _ := guarded(t, DefaultAccess(), nil)
	a := serve(t, h, request("GET", "/api/v1/alerts", "Origin", "https://evil.example"))
	pre := serve(t, h, request("OPTIONS", "/api/v1/alerts", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"))
	for _, x := range []answer{a, pre} {
		for k := range x.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s sent without CORS configured", k)
			}
		}
	}
	if a.status != 200 || pre.status != 405 {
		t.Fatalf("GET %d, OPTIONS %d", a.status, pre.status)
	}
}

// A listed origin's preflight is answered 204 with the methods, headers and
// max age — before auth, since preflights carry no token — and its requests
// carry Allow-Origin (on a 401 too, so the page can read it); another
// origin's get none.
func TestCORSConfigured(t *testing.T) {
	cfg := DefaultAccess()
	cfg.Auth.Tokens = []string{tokenA}
	cfg.CORS.AllowedOrigins = []string{"https://status.example.com"}
	h, _ := guarded(t, cfg, nil)
	const origin = "https://status.example.com"

	pre := serve(t, h, request("OPTIONS", "/api/v1/alerts", "Origin", origin, "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "authorization"))
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != origin ||
		pre.header.Get("Access-Control-Allow-Methods") != "GET, HEAD" || pre.header.Get("Access-Control-Allow-Headers") != "Authorization" ||
		pre.header.Get("Access-Control-Max-Age") != "600" || pre.header.Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(strings.Join(pre.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
	// A method or header not allowed: answered, without the allow headers.
	for _, r := range []*http.Request{
		request("OPTIONS", "/api/v1/alerts", "Origin", origin, "Access-Control-Request-Method", "DELETE"),
		request("OPTIONS", "/api/v1/alerts", "Origin", origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "X-Secret"),
	} {
		if a := serve(t, h, r); a.status != 204 || a.header.Get("Access-Control-Allow-Methods") != "" {
			t.Fatalf("preflight not allowed: %d %v", a.status, a.header)
		}
	}
	other := serve(t, h, request("OPTIONS", "/api/v1/alerts", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"))
	if other.status != 204 || other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin's preflight: %d %v", other.status, other.header)
	}

	ok := serve(t, h, request("GET", "/api/v1/alerts", "Origin", origin, "Authorization", "Bearer "+tokenA))
	if ok.status != 200 || ok.header.Get("Access-Control-Allow-Origin") != origin || ok.header.Get("Access-Control-Expose-Headers") != "Retry-After" {
		t.Fatalf("GET: %d %v", ok.status, ok.header)
	}
	denied := serve(t, h, request("GET", "/api/v1/alerts", "Origin", origin))
	if denied.status != 401 || denied.header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("401: %d %v", denied.status, denied.header)
	}
	if a := serve(t, h, request("GET", "/api/v1/alerts", "Origin", "https://evil.example", "Authorization", "Bearer "+tokenA)); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %v", a.header)
	}
}

// "*" answers any origin with *, and credentials are echoed per origin.
func TestCORSWildcardAndCredentials(t *testing.T) {
	cfg := DefaultAccess()
	cfg.CORS.AllowedOrigins = []string{"*"}
	h, _ := guarded(t, cfg, nil)
	if a := serve(t, h, request("GET", "/api/v1/alerts", "Origin", "https://any.example")); a.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wildcard: %v", a.header)
	}
	cfg.CORS.AllowedOrigins = []string{"https://a.example"}
	cfg.CORS.AllowCredentials = true
	h, _ = guarded(t, cfg, nil)
	if a := serve(t, h, request("GET", "/api/v1/alerts", "Origin", "https://a.example")); a.header.Get("Access-Control-Allow-Origin") != "https://a.example" ||
		a.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("credentials: %v", a.header)
	}
}

func TestAccessConfigRefused(t *testing.T) {
	for want, change := range map[string]func(*AccessConfig){
		`cors.allowed_origins: "*" cannot be used with cors.allow_credentials (browsers refuse it); list the origins`: func(c *AccessConfig) {
			c.CORS.AllowedOrigins, c.CORS.AllowCredentials = []string{"*"}, true
		},
		`cors.allowed_origins[0]: "status.example.com": want scheme://host[:port], e.g. "https://status.example.com", or "*"`: func(c *AccessConfig) {
			c.CORS.AllowedOrigins = []string{"status.example.com"}
		},
		`cors.allowed_methods[0]: "get": want an upper-case method such as GET`:  func(c *AccessConfig) { c.CORS.AllowedMethods = []string{"get"} },
		"cors.max_age: -1s must not be negative":                                 func(c *AccessConfig) { c.CORS.MaxAge = -time.Second },
		"auth.tokens[0]: a token of 3 characters is shorter than the minimum 16": func(c *AccessConfig) { c.Auth.Tokens = []string{"abc"} },
		`auth.public[0]: "status/*": want a path starting with /`:                func(c *AccessConfig) { c.Auth.Public = []string{"status/*"} },
		`auth.public[0]: "/status*": * is only allowed as a final /*`:            func(c *AccessConfig) { c.Auth.Public = []string{"/status*"} },
		"rate_limit.requests_per_second: -1 must be 0 (off) or positive":         func(c *AccessConfig) { c.RateLimit.RequestsPerSecond = -1 },
		"rate_limit.burst: 0 must be at least 1":                                 func(c *AccessConfig) { c.RateLimit.RequestsPerSecond, c.RateLimit.Burst = 1, 0 },
		"rate_limit.max_clients: 0 must be at least 1":                           func(c *AccessConfig) { c.RateLimit.RequestsPerSecond, c.RateLimit.MaxClients = 1, 0 },
		`rate_limit.trusted_proxies: "10.0.0.0/33": want an IP address or CIDR prefix`: func(c *AccessConfig) {
			c.RateLimit.TrustedProxies = []string{"10.0.0.0/33"}
		},
	} {
		c := DefaultAccess()
		change(&c)
		if _, err := NewGuard(c, "", slog.New(slog.DiscardHandler), nil); err == nil || err.Error() != want {
			t.Errorf("%v, want %s", err, want)
		}
	}
}

// A changed tokens file is taken within 5 s, with no restart: a rotated
// token works and the old one stops; a change that leaves it empty or
// unreadable keeps the tokens in force, counted as an error.
func TestTokensFileIsReloaded(t *testing.T) {
	const tokenC = "token-c-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "tokens")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tokenB + "\n")
	clock := &fakeClock{t: now}
	cfg := DefaultAccess()
	cfg.Auth.Tokens, cfg.Auth.TokensFile = []string{tokenA}, file
	h, g := guarded(t, cfg, clock)
	status := func(token string) int {
		return serve(t, h, request("GET", "/api/v1/alerts/open", "Authorization", "Bearer "+token)).status
	}
	want := func(when string, statuses map[string]int) {
		t.Helper()
		for tok, st := range statuses {
			if got := status(tok); got != st {
				t.Errorf("%s: token %s…: %d, want %d", when, tok[:7], got, st)
			}
		}
	}
	want("at the start", map[string]int{tokenA: 200, tokenB: 200, tokenC: 401})
	write("# rotated\n" + tokenC + "\n")
	clock.add(4 * time.Second)
	want("before the check is due", map[string]int{tokenB: 200, tokenC: 401})
	clock.add(time.Second)
	want("after the check", map[string]int{tokenA: 200, tokenB: 401, tokenC: 200})
	if n := testutil.ToFloat64(g.tokens.reloads.WithLabelValues("ok")); n != 1 {
		t.Errorf("reloads ok %v, want 1", n)
	}
	write("")
	clock.add(5 * time.Second)
	want("emptied", map[string]int{tokenA: 200, tokenC: 200})
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	clock.add(5 * time.Second)
	want("removed", map[string]int{tokenA: 200, tokenC: 200})
	if n := testutil.ToFloat64(g.tokens.reloads.WithLabelValues("error")); n != 2 {
		t.Errorf("reload errors %v, want 2", n)
	}
}
