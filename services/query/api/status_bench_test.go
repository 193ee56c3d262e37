package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkStatusPage measures, with 1,000 checks × 30 days rolled up (see
// benchStore), the p50 and p99 of a status page of 100 checks (label team=t3)
// and of one of 10 checks (by id), through the router as JSON and HTML; and
// the page's 90 days of daily uptime from the day rollups next to the same
// answer from the raw rows (raw/rollup: the ratio of their p50s), which it
// must equal. Run it once:
// go test -run '^$' -bench StatusPage -benchtime 1x ./services/query/api
func BenchmarkStatusPage(b *testing.B) {
	st, ids, now := benchStore(b, benchSeed{checks: benchChecks, locations: benchLocations, interval: benchInterval})
	ctx := context.Background()
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	a.SetStatusPages(map[string]StatusPage{
		"team": {Labels: map[string]string{"team": "t3"}},
		"ten":  {Checks: ids[:10]},
	})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	var team []string // the checks labelled t3: every tenth
	for i := 3; i < len(ids); i += 10 {
		team = append(team, ids[i])
	}
	first := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(StatusDays - 1))
	rolled, err := st.DailyUptime(ctx, team, first, now)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := st.DailyUptimeFromRaw(ctx, team, first, now)
	if err != nil {
		b.Fatal(err)
	}
	if len(rolled) < 100*30 || len(rolled) != len(raw) {
		b.Fatalf("%d check-days from the rollups, %d from the raw rows", len(rolled), len(raw))
	}
	for i := range rolled {
		if rolled[i] != raw[i] {
			b.Fatalf("rollups %+v, raw %+v", rolled[i], raw[i])
		}
	}
	// 100 rounds: the p99 is the second slowest, not the slowest.
	const rounds = 100
	report := reporter(b)
	for b.Loop() {
		for _, path := range []string{"/api/v1/status/team", "/status/team", "/api/v1/status/ten", "/status/ten"} {
			p50, p99 := timings(b, rounds, httpGet(srv, path))
			report(path, p50, p99)
		}
		r50, r99 := timings(b, rounds, func() error { _, err := st.DailyUptime(ctx, team, first, now); return err })
		report("daily-uptime-100-rollup", r50, r99)
		w50, w99 := timings(b, rounds, func() error { _, err := st.DailyUptimeFromRaw(ctx, team, first, now); return err })
		report("daily-uptime-100-raw", w50, w99)
		b.ReportMetric(float64(w50)/float64(r50), "daily-uptime-raw/rollup")
	}
}
