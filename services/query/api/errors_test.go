package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// A check that never stored a result is a 404 problem, not 200 with an
// availability of 0; a known check with nothing in the range is a 200 with
// zeros, also when its raw rows are gone and only its rollups remain.
func TestUnknownCheckIsNotFound(t *testing.T) {
	srv, st := newServer(t)
	ctx := context.Background()
	old := row("api", "eu", 3*time.Hour, 200, 10)
	if err := st.InsertResults(ctx, []store.ResultRow{old}); err != nil {
		t.Fatal(err)
	}
	var p Problem
	h := get(t, srv.URL+"/api/v1/checks/nope/stats?window=10m", 404, &p)
	if h.Get("Content-Type") != "application/problem+json" || p.Status != 404 || p.Title != "Unknown check" ||
		p.Detail != `no result of check "nope" was ever stored` {
		t.Fatalf("unknown check: %s %+v", h.Get("Content-Type"), p)
	}
	var s StatsJSON
	get(t, srv.URL+"/api/v1/checks/api/stats?window=10m", 200, &s)
	if s.Samples != 0 || s.CheckID != "api" {
		t.Fatalf("known check, nothing in range: %+v", s)
	}
	// Raw rows past their TTL: the day rollups still know the check.
	if err := st.RebuildRollups(ctx, []string{"api"}, old.ScheduledAt, old.ScheduledAt); err != nil {
		t.Fatal(err)
	}
	if err := st.Backend().Exec(ctx, "TRUNCATE TABLE "+st.Database()+".check_results", nil); err != nil {
		t.Fatal(err)
	}
	get(t, srv.URL+"/api/v1/checks/api/stats?window=10m", 200, &s)
	get(t, srv.URL+"/api/v1/checks/nope/stats?window=10m", 404, &p)
}

// stalled is the embedded engine behind a server that stopped answering: a
// read waits until its context ends and fails with the context's error, as
// clickhouse-go does at a deadline. A read without a deadline fails at once,
// saying so, so that the test cannot hang.
type stalled struct{ store.Backend }

func (s stalled) Select(ctx context.Context, dest any, query string, params store.Params) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("store call without a deadline")
	}
	<-ctx.Done()
	return fmt.Errorf("clickhouse: %w", ctx.Err())
}

// A store that does not answer gives each request a 504 problem within the
// configured request timeout, on every endpoint.
func TestStoreTimeoutIsGatewayTimeout(t *testing.T) {
	st, err := store.New(stalled{embeddedtest.Backend(t)}, embeddedtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 200*time.Millisecond)
	a.now = func() time.Time { return now }
	if err := a.SetSLOs([]SLO{{Name: "api", Checks: []string{"api"}, Objective: 0.99}}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := a.Register(reg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	http.DefaultClient.Timeout = 10 * time.Second
	defer func() { http.DefaultClient.Timeout = 0 }()
	paths := []string{"/api/v1/checks/api/stats?window=1h", "/api/v1/checks", "/api/v1/alerts", "/api/v1/alerts/open",
		"/api/v1/overview", "/api/v1/checks/api", "/api/v1/checks/api/results", "/api/v1/checks/api/series",
		"/api/v1/slos", "/api/v1/slos/api", "/api/v1/checks/api/slos"}
	for _, path := range paths {
		began := time.Now()
		var p Problem
		h := get(t, srv.URL+path, 504, &p)
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("%s: answered after %s", path, took)
		}
		if h.Get("Content-Type") != "application/problem+json" || p.Status != 504 ||
			p.Detail != "the stats store did not answer within 200ms (request_timeout); try a shorter range, or again later" {
			t.Errorf("%s: %s %+v", path, h.Get("Content-Type"), p)
		}
	}
	if n := testutil.ToFloat64(a.storeFailures.WithLabelValues("timeout")); n != float64(len(paths)) {
		t.Errorf("picket_query_store_failures_total{reason=\"timeout\"} = %v, want %d", n, len(paths))
	}
}
