package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

const (
	benchChecks    = 1000
	benchLocations = 2
	benchInterval  = 30 * time.Minute
)

// benchStore holds benchChecks checks probed every benchInterval from
// benchLocations locations over the last 30 days, 2 % of runs failing,
// generated in ClickHouse (faster than encoding 2.88M rows in Go) and then
// rolled up by the real RebuildRollups.
func benchStore(b *testing.B) (*store.Store, []string, time.Time) {
	ctx := context.Background()
	st := embeddedtest.Store(b)
	end := time.Now().UTC()
	// 30 days less an hour: the raw rows' 30-day TTL removes none.
	start := end.Add(-30*24*time.Hour + time.Hour).Truncate(time.Minute)
	ticks := int(end.Sub(start) / benchInterval)
	n := benchChecks * benchLocations * ticks
	began := time.Now()
	err := st.Backend().Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s.check_results (result_id, check_id, check_name, check_type,
  location, scheduled_at, started_at, duration_ms, ttfb_ms, http_status, success, failure_class, failure_message,
  interval_ms, dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, labels)
SELECT toString(number), c, concat('Check ', c), 'http', loc, t, t, d, d / 4, status, status = 200,
  if(status = 200, '', 'FAILURE_CLASS_HTTP_STATUS'), if(status = 200, '', 'status 500, want 200'),
  %[4]d, 1, 2, 3, d - 10, 4, map('team', concat('t', toString(number %% 10)))
FROM (
  SELECT number,
    concat('check-', leftPad(toString(number %% %[2]d), 4, '0')) AS c,
    ['eu', 'us', 'ap'][intDiv(number, %[2]d) %% %[3]d + 1] AS loc,
    toDateTime64(%[5]d, 3, 'UTC') + toIntervalSecond(intDiv(number, %[2]d * %[3]d) * %[6]d) AS t,
    20 + cityHash64(number) %% 200 AS d,
    if(cityHash64(number, 1) %% 100 < 2, 500, 200) AS status
  FROM numbers(%[7]d))`, st.Database(), benchChecks, benchLocations, benchInterval.Milliseconds(), start.Unix(),
		int(benchInterval/time.Second), n), nil)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, benchChecks)
	for i := range ids {
		ids[i] = fmt.Sprintf("check-%04d", i)
	}
	inserted := time.Since(began)
	// A day at a time, as the aggregator rebuilds what each batch touched:
	// one rebuild of 30 days at once holds every minute's sketches in memory.
	for from := start; from.Before(end); from = from.Add(24 * time.Hour) {
		to := from.Add(24 * time.Hour)
		if to.After(end) {
			to = end
		}
		if err := st.RebuildRollups(ctx, ids, from, to.Add(-time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d results over %s inserted in %s, rolled up in %s", n, end.Sub(start).Round(time.Hour),
		inserted.Round(time.Second), (time.Since(began) - inserted).Round(time.Second))
	return st, ids, end
}

// timings runs f rounds times and returns its p50 and p99.
func timings(b *testing.B, rounds int, f func() error) (p50, p99 time.Duration) {
	b.Helper()
	d := make([]time.Duration, rounds)
	for i := range d {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d[i] = time.Since(t0)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[(len(d)*99-1)/100]
}

func httpGet(srv *httptest.Server, path string) func() error {
	return func() error {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil
	}
}

// BenchmarkDashboard measures, with 1,000 checks × 30 days rolled up, the
// p50 and p99 of the overview of all of them in one request, and of one
// check's 30-day (1 h steps) and 24-hour (5 m steps) series, through the
// router; and each figure query from the rollups next to the same answer
// from the raw rows (raw/rollup: the ratio of their p50s). Run it once:
// go test -run '^$' -bench Dashboard -benchtime 1x ./services/query/api
func BenchmarkDashboard(b *testing.B) {
	st, ids, now := benchStore(b)
	ctx := context.Background()
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	// The rollups' answer is the raw rows' answer.
	rolled, err := st.Overview(ctx, ids, now, benchInterval)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := st.OverviewFromRaw(ctx, ids, now)
	if err != nil {
		b.Fatal(err)
	}
	if len(rolled) != benchChecks || len(raw) != benchChecks {
		b.Fatalf("%d checks from the rollups, %d from the raw rows", len(rolled), len(raw))
	}
	for i := range rolled {
		r, w := rolled[i], raw[i]
		if r.Runs10m != w.Runs10m || r.Runs24h != w.Runs24h || r.Runs30d != w.Runs30d || r.Successes30d != w.Successes30d ||
			r.Successes24h != w.Successes24h {
			b.Fatalf("%s: rollups %+v, raw %+v", r.CheckID, r, w)
		}
	}
	const rounds = 20
	report := func(name string, p50, p99 time.Duration) {
		b.ReportMetric(float64(p50.Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, name+"-p99-ms")
		fmt.Fprintf(os.Stderr, "%s: p50 %s, p99 %s\n", name, p50, p99) // as it goes: the whole run takes minutes
	}
	for b.Loop() {
		p50, p99 := timings(b, rounds, httpGet(srv, "/api/v1/overview?limit=1000"))
		report("overview-http", p50, p99)
		p50, p99 = timings(b, rounds, httpGet(srv, "/api/v1/checks"))
		report("checks-http", p50, p99)
		r50, r99 := timings(b, rounds, func() error { _, err := st.Overview(ctx, ids, now, benchInterval); return err })
		report("overview-rollup", r50, r99)
		w50, w99 := timings(b, 5, func() error { _, err := st.OverviewFromRaw(ctx, ids, now); return err })
		report("overview-raw", w50, w99)
		b.ReportMetric(float64(w50)/float64(r50), "overview-raw/rollup")

		for _, s := range []struct {
			name   string
			window time.Duration
			step   time.Duration
		}{{"series30d", 30 * 24 * time.Hour, time.Hour}, {"series24h", 24 * time.Hour, 5 * time.Minute}} {
			p50, p99 := timings(b, rounds, httpGet(srv, fmt.Sprintf("/api/v1/checks/check-0001/series?figure=p95&window=%s&step=%s", s.window, s.step)))
			report(s.name+"-http", p50, p99)
			q := store.SeriesQuery{CheckID: "check-0001", From: now.Add(-s.window), To: now, Step: s.step}
			r50, r99 := timings(b, rounds, func() error { _, err := st.Series(ctx, q); return err })
			report(s.name+"-rollup", r50, r99)
			w50, w99 := timings(b, rounds, func() error { _, err := st.SeriesFromRaw(ctx, q); return err })
			report(s.name+"-raw", w50, w99)
			b.ReportMetric(float64(w50)/float64(r50), s.name+"-raw/rollup")
		}
		p50, p99 = timings(b, rounds, httpGet(srv, "/api/v1/checks/check-0001/stats?window=30d"))
		report("stats30d-http", p50, p99)
	}
}
