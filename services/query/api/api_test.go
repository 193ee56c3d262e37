package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
)

var now = embeddedtest.Day().Add(12 * time.Hour)

func newServer(t *testing.T) (*httptest.Server, *store.Store) { return newServerAt(t, now) }

func newServerAt(t *testing.T, now time.Time) (*httptest.Server, *store.Store) {
	st := embeddedtest.Store(t)
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	a.now = func() time.Time { return now }
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func row(check, loc string, ago time.Duration, status uint16, ms float64) store.ResultRow {
	tick := now.Add(-ago)
	return store.ResultRow{ResultID: events.ResultID(check, loc, tick), CheckID: check, CheckName: "Name " + check,
		CheckType: "http", Location: loc, ScheduledAt: tick, StartedAt: tick, DurationMS: ms, TTFBMS: ms / 4,
		HTTPStatus: status, Success: status == 200, IntervalMS: 5000}
}

// get is getRaw with the JSON body decoded into v.
func get(t *testing.T, url string, wantStatus int, v any) http.Header {
	t.Helper()
	h, body := getRaw(t, url, wantStatus)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return h
}

func TestStats(t *testing.T) {
	srv, st := newServer(t)
	rows := []store.ResultRow{
		row("api", "eu", 1*time.Minute, 200, 100),
		row("api", "eu", 2*time.Minute, 200, 300),
		row("api", "us", 3*time.Minute, 500, 50),
		row("api", "eu", 4*time.Minute, 401, 10),
		row("api", "eu", 30*time.Minute, 200, 999), // outside the last 10 minutes
		row("web", "eu", 1*time.Minute, 200, 1),
	}
	skipped := row("api", "us", 5*time.Minute, 0, 9999) // the prober was overloaded: not the target's failure
	skipped.FailureClass = store.OverloadClass
	rows = append(rows, skipped)
	if err := st.InsertResults(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	var s StatsJSON
	get(t, srv.URL+"/api/v1/checks/api/stats?window=10m", 200, &s)
	if s.Samples != 4 || s.Skipped != 1 || s.Successes != 2 || s.Availability != 0.5 || s.ResponseTimeMS.Avg != 115 || s.ResponseTimeMS.Max != 300 ||
		s.TTFBMS != (MinMax{Avg: 28.75, Max: 75}) || len(s.StatusCodes) != 3 || s.StatusCodes["401"] != 1 || len(s.FailureClasses) != 0 {
		t.Fatalf("stats %+v", s)
	}
	if !s.From.Equal(now.Add(-10*time.Minute)) || !s.To.Equal(now) {
		t.Fatalf("range %v..%v", s.From, s.To)
	}
	get(t, srv.URL+"/api/v1/checks/api/stats?window=1h&location=eu", 200, &s)
	if s.Samples != 4 || s.Successes != 3 {
		t.Fatalf("eu over 1h: %+v", s)
	}
	from := now.Add(-150 * time.Second).Format(time.RFC3339)
	get(t, srv.URL+"/api/v1/checks/api/stats?from="+from+"&to="+now.Format(time.RFC3339), 200, &s)
	if s.Samples != 2 || s.Availability != 1 {
		t.Fatalf("from/to: %+v", s)
	}
	var cs struct{ Checks []CheckJSON }
	get(t, srv.URL+"/api/v1/checks", 200, &cs)
	if len(cs.Checks) != 2 || cs.Checks[0].ID != "api" || strings.Join(cs.Checks[0].Locations, ",") != "eu,us" {
		t.Fatalf("checks %+v", cs)
	}
}

// Two days and more of results, probed every minute from two locations, eu
// resolving a name and us an IP address, all over TLS, some failing: the
// stats of the last two days (unaligned, spanning a whole day read from the
// day rollups) report per-phase runs, averages, maxima and percentiles, response
// percentiles, TTFB and failure classes as the results add up to.
func TestStatsPhasesPercentilesAndFailures(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second).Add(-17 * time.Second)
	srv, st := newServerAt(t, now)
	var rows []store.ResultRow
	for i := range 50 * 60 {
		for _, loc := range []string{"eu", "us"} {
			r := row("api", loc, 0, 200, 0)
			r.ScheduledAt = now.Add(-time.Duration(i)*time.Minute - 7*time.Second)
			r.StartedAt, r.ResultID = r.ScheduledAt, events.ResultID("api", loc, r.ScheduledAt)
			r.ConnectMS, r.TLSMS, r.ProcessingMS, r.TransferMS = 3, 10, 20+float64(i%50), 1
			if loc == "eu" {
				r.DNSMS = 2
			}
			switch {
			case i%25 == 0:
				r.HTTPStatus, r.Success, r.FailureClass, r.ProcessingMS, r.TransferMS = 0, false, "FAILURE_CLASS_TIMEOUT", 0, 0
			case i%10 == 0:
				r.HTTPStatus, r.Success, r.FailureClass = 503, false, "FAILURE_CLASS_STATUS"
			}
			if r.HTTPStatus != 0 {
				r.TTFBMS = r.DNSMS + r.ConnectMS + r.TLSMS + r.ProcessingMS
			}
			r.DurationMS = r.DNSMS + r.ConnectMS + r.TLSMS + r.ProcessingMS + r.TransferMS
			rows = append(rows, r)
		}
	}
	ctx := context.Background()
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"api"}, now.Add(-51*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"", "eu", "us"} {
		// What the results of the last two days add up to.
		var n, ok, dnsRuns, processingRuns uint64
		var durations, processing []float64
		var durationSum, ttfbSum, ttfbMax, processingSum float64
		classes := map[string]uint64{}
		for _, r := range rows {
			if r.ScheduledAt.Before(now.Add(-48*time.Hour)) || (loc != "" && r.Location != loc) {
				continue
			}
			n++
			if r.Success {
				ok++
			} else {
				classes[r.FailureClass]++
			}
			if r.DNSMS > 0 {
				dnsRuns++
			}
			if r.ProcessingMS > 0 {
				processingRuns++
				processing = append(processing, r.ProcessingMS)
				processingSum += r.ProcessingMS
			}
			durations = append(durations, r.DurationMS)
			durationSum, ttfbSum, ttfbMax = durationSum+r.DurationMS, ttfbSum+r.TTFBMS, max(ttfbMax, r.TTFBMS)
		}
		var s StatsJSON
		get(t, srv.URL+"/api/v1/checks/api/stats?window=2d&location="+loc, 200, &s)
		ph := s.PhaseTimingsMS
		if s.Samples != n || s.Successes != ok || s.DetailSamples != n || fmt.Sprint(s.FailureClasses) != fmt.Sprint(classes) ||
			math.Abs(s.ResponseTimeMS.Avg-durationSum/float64(n)) > 1e-9 || s.TTFBMS.Max != ttfbMax || math.Abs(s.TTFBMS.Avg-ttfbSum/float64(n)) > 1e-9 {
			t.Errorf("location %q: %+v; want %d samples, %d successes, failures %v, response avg %v, ttfb %v/%v",
				loc, s, n, ok, classes, durationSum/float64(n), ttfbSum/float64(n), ttfbMax)
		}
		if ph.DNS.Runs != dnsRuns || (dnsRuns > 0 && (ph.DNS.Avg != 2 || ph.DNS.Max != 2 || math.Abs(ph.DNS.P50-2) > 0.02)) ||
			(dnsRuns == 0 && ph.DNS != PhaseTiming{}) || math.Abs(s.PhasesMS.DNS-2*float64(dnsRuns)/float64(n)) > 1e-9 {
			t.Errorf("location %q: dns %+v, phases_ms.dns %v; want %d runs of 2 ms", loc, ph.DNS, s.PhasesMS.DNS, dnsRuns)
		}
		if ph.TLS.Runs != n || ph.TLS.Avg != 10 || ph.Processing.Runs != processingRuns || ph.Processing.Max != 69 ||
			math.Abs(ph.Processing.Avg-processingSum/float64(processingRuns)) > 1e-9 || s.PhasesMS.Processing >= ph.Processing.Avg {
			t.Errorf("location %q: tls %+v, processing %+v, phases_ms %+v", loc, ph.TLS, ph.Processing, s.PhasesMS)
		}
		sort.Float64s(durations)
		sort.Float64s(processing)
		for _, c := range []struct {
			name   string
			got    Latency
			sorted []float64
		}{{"response", s.ResponseTimeMS, durations}, {"processing", ph.Processing.Latency, processing}} {
			for i, p := range []float64{c.got.P50, c.got.P90, c.got.P95, c.got.P99} {
				q := []float64{0.5, 0.9, 0.95, 0.99}[i]
				exact := c.sorted[int(math.Floor(q*float64(len(c.sorted)-1)))]
				if math.Abs(p-exact) > 0.01*exact {
					t.Errorf("location %q: %s p%v = %v, exact %v", loc, c.name, q*100, p, exact)
				}
			}
		}
	}
}

func TestBadParametersAreProblems(t *testing.T) {
	srv, _ := newServer(t)
	tests := []struct{ query, param, detail string }{
		{"window=ten", "window", `window "ten": want a duration like 10m, 1h or 7d`},
		{"window=-5m", "window", `window "-5m": must be positive`},
		{"window=1000d", "window", `window "1000d": longer than the maximum 400d (9600h0m0s)`},
		// Day counts whose hours overflow a Duration: bounded before multiplying.
		{"window=213504d", "window", `window "213504d": longer than the maximum 400d (9600h0m0s)`},
		{"window=106752d", "window", `window "106752d": longer than the maximum 400d (9600h0m0s)`},
		{"window=99999999999999999999d", "window", `window "99999999999999999999d": longer than the maximum 400d (9600h0m0s)`},
		{"window=-99999999999999999999d", "window", `window "-99999999999999999999d": must be positive`},
		{"window=-3d", "window", `window "-3d": must be positive`},
		{"window=-213504d", "window", `window "-213504d": must be positive`},
		{"window=0d", "window", `window "0d": must be positive`},
		{"window=9999999999h", "window", `window "9999999999h": longer than the maximum 400d (9600h0m0s)`},
		{"window=10000h", "window", `window "10000h": longer than the maximum 400d (9600h0m0s)`},
		{"window=-9999999999h", "window", `window "-9999999999h": must be positive`},
		{"window=7dd", "window", `window "7dd": want a duration like 10m, 1h or 7d`},
		{"window=h", "window", `window "h": want a duration like 10m, 1h or 7d`},
		{"window=.s", "window", `window ".s": want a duration like 10m, 1h or 7d`},
		{"window=99999999999999999999ms", "window", `window "99999999999999999999ms": longer than the maximum 400d (9600h0m0s)`},
		{"from=-99999999999", "from", "from -1199-02-15T14:13:21Z: want a time from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"},
		{"from=99999999999999999999", "from", `"99999999999999999999": want a time from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z`},
		{"from=2026-11-22T10:00:00Z&to=9999-01-01T00:00:00Z", "to", "to 9999-01-01T00:00:00Z: want a time from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"},
		{"from=2025-01-01T00:00:00Z&to=2026-11-22T09:00:00Z", "from", "range 16569h0m0s is longer than the maximum 400d (9600h0m0s)"},
		{"window=10m&from=2026-11-22T10:00:00Z", "window", "give either window or from/to, not both"},
		{"to=2026-11-22T10:00:00Z", "from", "from is required with to"},
		{"from=yesterday", "from", `"yesterday": want an RFC 3339 time (2026-11-22T10:00:00Z) or Unix seconds`},
		{"from=2026-11-22T10:00:00Z&to=2026-11-22T09:00:00Z", "from", "from 2026-11-22T10:00:00Z is not before to 2026-11-22T09:00:00Z"},
	}
	for _, tc := range tests {
		var p Problem
		h := get(t, srv.URL+"/api/v1/checks/api/stats?"+tc.query, 400, &p)
		if h.Get("Content-Type") != "application/problem+json" || p.Status != 400 || p.Param != tc.param || p.Detail != tc.detail {
			t.Errorf("%s: %s %+v", tc.query, h.Get("Content-Type"), p)
		}
	}
	var p Problem
	get(t, srv.URL+"/api/v1/alerts?limit=0", 400, &p)
	if p.Param != "limit" {
		t.Errorf("limit=0: %+v", p)
	}
	get(t, srv.URL+"/api/v1/nothing", 404, &p)
	if p.Status != 404 || p.Detail != "no route for /api/v1/nothing" {
		t.Errorf("404: %+v", p)
	}
}

func TestAlertHistory(t *testing.T) {
	srv, st := newServer(t)
	down := store.AlertRow{EventID: "d", CheckID: "api", CheckName: "API", Rule: "availability", State: "down", PreviousState: "up",
		At: now.Add(-time.Hour), Message: "down msg", Availability: 0.5, Threshold: 0.8, WindowMS: 120000, Samples: 24, Successes: 12,
		Kind: "availability", Value: 0.5, Unit: "ratio", FirstResultID: "r1", LastResultID: "r24", Location: "eu",
		FailingLocations: []string{"eu", "us"}, Locations: 3, Quorum: 2, Silenced: true, Silence: "db-maintenance", Summary: "Website API is down"}
	up := down
	up.EventID, up.State, up.PreviousState, up.At, up.Message, up.DownSince = "u", "up", "down", now.Add(-30*time.Minute), "up msg", down.At
	// Found by a restore 10 minutes after the fact: recorded, never paged.
	up.Historical, up.DetectedAt = true, now.Add(-20*time.Minute)
	other := down
	other.EventID, other.CheckID = "o", "web"
	if err := st.InsertAlerts(context.Background(), []store.AlertRow{down, up, other}); err != nil {
		t.Fatal(err)
	}
	var a struct{ Alerts []AlertJSON }
	get(t, srv.URL+"/api/v1/alerts?check_id=api", 200, &a)
	if len(a.Alerts) != 2 || a.Alerts[0].Message != "up msg" || a.Alerts[1].DownSince != nil ||
		a.Alerts[0].DownSince == nil || !a.Alerts[0].DownSince.Equal(down.At) || a.Alerts[0].WindowSeconds != 120 {
		t.Fatalf("alerts %+v", a)
	}
	// historical and detected_at (which defaults to the event time).
	if u, d := a.Alerts[0], a.Alerts[1]; !u.Historical || !u.DetectedAt.Equal(up.DetectedAt) || d.Historical || !d.DetectedAt.Equal(down.At) {
		t.Fatalf("historical/detected_at: up %v %v, down %v %v", u.Historical, u.DetectedAt, d.Historical, d.DetectedAt)
	}
	if d := a.Alerts[1]; d.Kind != "availability" || d.Value != 0.5 || d.Unit != "ratio" || d.FirstResultID != "r1" ||
		d.LastResultID != "r24" || fmt.Sprint(d.FailingLocations) != "[eu us]" || d.Locations != 3 || d.Quorum != 2 ||
		!d.Silenced || d.Silence != "db-maintenance" || d.Summary != "Website API is down" {
		t.Fatalf("evidence %+v", d)
	}
	get(t, srv.URL+"/api/v1/alerts?limit=1", 200, &a)
	if len(a.Alerts) != 1 {
		t.Fatalf("limit=1 gave %d", len(a.Alerts))
	}
}
