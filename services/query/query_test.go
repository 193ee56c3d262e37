package query

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/query/api"
)

// The query server serves, sets every connection timeout (writes outlasting
// the request timeout, so a 504 can still be written), refuses a taken port
// naming it, and stops within its bound.
func TestServerServesAndStops(t *testing.T) {
	st, err := store.New(nil, "picket") // the dashboard page reads nothing
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := Listen("127.0.0.1:0", st, log, RequestTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.IdleTimeout <= 0 || c.ShutdownTimeout != 10*time.Second ||
		c.WriteTimeout <= 20*time.Second {
		t.Fatalf("timeouts %+v", c)
	}
	_, err = Listen(s.Addr(), st, log)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || err.Error() != "query listen "+s.Addr()+": listen tcp "+s.Addr()+": bind: address already in use" {
		t.Fatalf("second server on %s: %v", s.Addr(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	resp, err := http.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("query server did not stop")
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("still listening after shutdown")
	}
}

// The production path: tokens from the environment (PICKET_AUTH__TOKENS, a
// list) and auth.public from --set reach the server; a private route needs
// one of the tokens over real HTTP, and a tokens file that cannot be read
// stops the start naming the key.
func TestServerAuthFromConfig(t *testing.T) {
	const tokA, tokB = "token-a-0123456789abcdef", "token-b-0123456789abcdef"
	cfg := DefaultConfig()
	if err := config.Load(&cfg, DefaultConfig(), config.Source{
		Environ: []string{"PICKET_AUTH__TOKENS=" + tokA + "," + tokB, "PICKET_RATE_LIMIT__REQUESTS_PER_SECOND=100"},
		Sets:    []string{"auth.public=/status/*"},
	}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Tokens) != 2 || cfg.RateLimit.RequestsPerSecond != 100 || len(cfg.Auth.Public) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	st, err := store.New(nil, "picket") // the routes tried read nothing
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := Listen("127.0.0.1:0", st, log, Access(cfg.Access(), ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"nope", 401}, {tokA, 200}, {tokB, 200}} {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/api/v1/openapi.json", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want || (c.want == 401) != strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %d %q, want %d", c.token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), c.want)
		}
	}

	missing := filepath.Join(t.TempDir(), "tokens")
	bad := DefaultConfig()
	bad.Auth.TokensFile = missing
	if _, err := Listen("127.0.0.1:0", st, log, Access(bad.Access(), "")); err == nil ||
		err.Error() != "auth.tokens_file: open "+missing+": no such file or directory" {
		t.Fatalf("unreadable tokens file: %v", err)
	}
}

// The server built from the configuration serves its status pages at
// /status/{slug} and /api/v1/status/{slug}, and only those.
func TestServerServesStatusPages(t *testing.T) {
	st := embeddedtest.Store(t)
	tick := time.Now().Add(-time.Second)
	if err := st.InsertResults(t.Context(), []store.ResultRow{{ResultID: "r1", CheckID: "api", CheckName: "API", CheckType: "http",
		Location: "eu", ScheduledAt: tick, StartedAt: tick, Success: true, HTTPStatus: 200, IntervalMS: 60000}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(t.Context(), []string{"api"}, tick, tick); err != nil {
		t.Fatal(err)
	}
	s, err := Listen("127.0.0.1:0", st, slog.New(slog.DiscardHandler),
		StatusPages(map[string]api.StatusPage{"shop": {Title: "Shop status", Checks: []string{"api"}}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	fetch := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := fetch("/status/shop"); code != 200 || !strings.Contains(body, "<h1>Shop status</h1>") ||
		!strings.Contains(body, "All systems operational") || !strings.Contains(body, `data-check="api" data-state="up"`) {
		t.Errorf("/status/shop: %d %s", code, body)
	}
	var p api.StatusPageJSON
	code, body := fetch("/api/v1/status/shop")
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || len(p.Checks) != 1 || p.Checks[0].Name != "API" ||
		p.Checks[0].Uptime == nil || *p.Checks[0].Uptime != 1 {
		t.Errorf("/api/v1/status/shop: %d %s", code, body)
	}
	if code, _ := fetch("/status/other"); code != 404 {
		t.Errorf("/status/other: %d", code)
	}
}
