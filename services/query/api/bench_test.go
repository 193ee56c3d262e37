package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"sync/atomic"
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

// benchSeed is the data a benchmark stores: checks probed every interval
// from locations locations over the last 30 days.
type benchSeed struct {
	checks, locations int
	interval          time.Duration
}

// benchStore holds seed's results, 2 % of runs failing, generated in
// ClickHouse (faster than encoding millions of rows in Go) and then rolled up
// by the real RebuildRollups.
//
// Seeding 30 days of 1,000 checks takes minutes. With PICKET_TEST_CHDB_DIR
// set (embeddedtest), the seeded database is kept there and a run within
// keptSeedAge of the seed reuses it, its migrations brought up to date:
// measuring a change of the queries then takes seconds.
func benchStore(b *testing.B, seed benchSeed) (*store.Store, []string, time.Time) {
	ids := make([]string, seed.checks)
	for i := range ids {
		ids[i] = fmt.Sprintf("check-%05d", i)
	}
	if embeddedtest.KeptDir() == "" {
		st := embeddedtest.Store(b)
		return st, ids, seedStore(b, st, seed, ids)
	}
	ctx := context.Background()
	be := embeddedtest.Backend(b)
	st, err := store.New(be, fmt.Sprintf("bench_%d_%d_%d", seed.checks, seed.locations, int(seed.interval/time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	var seeded []struct {
		End time.Time `ch:"end"`
	}
	if err := be.Select(ctx, &seeded, "SELECT end FROM "+st.Database()+".bench_seed", nil); err == nil && len(seeded) == 1 &&
		time.Since(seeded[0].End) < keptSeedAge {
		if _, err := st.Migrate(ctx); err == nil {
			b.Logf("reusing the seed of %s ago in %s", time.Since(seeded[0].End).Round(time.Second), st.Database())
			return st, ids, seeded[0].End.UTC()
		}
	}
	if err := be.Exec(ctx, "DROP DATABASE IF EXISTS "+st.Database(), nil); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	end := seedStore(b, st, seed, ids)
	if err := be.Exec(ctx, "CREATE TABLE "+st.Database()+".bench_seed ENGINE = TinyLog AS SELECT "+
		"toDateTime64('"+store.TimeParam(end)+"', 3, 'UTC') AS end", nil); err != nil {
		b.Fatal(err)
	}
	return st, ids, end
}

// keptSeedAge is how long a kept seed is reused: its oldest raw rows are 30
// days less an hour old when seeded, and the 30-day TTL would start to
// remove them.
const keptSeedAge = 45 * time.Minute

// seedStore stores seed's results of ids in st, as benchStore says, and
// returns the time they end at.
func seedStore(b *testing.B, st *store.Store, seed benchSeed, ids []string) time.Time {
	ctx := context.Background()
	end := time.Now().UTC()
	// 30 days less an hour: the raw rows' 30-day TTL removes none.
	start := end.Add(-30*24*time.Hour + time.Hour).Truncate(time.Minute)
	ticks := int(end.Sub(start) / seed.interval)
	n := seed.checks * seed.locations * ticks
	began := time.Now()
	err := st.Backend().Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s.check_results (result_id, check_id, check_name, check_type,
  location, scheduled_at, started_at, duration_ms, ttfb_ms, http_status, success, failure_class, failure_message,
  interval_ms, dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, labels)
SELECT toString(number), c, concat('Check ', c), 'http', loc, t, t, d, d / 4, status, status = 200,
  if(status = 200, '', 'FAILURE_CLASS_HTTP_STATUS'), if(status = 200, '', 'status 500, want 200'),
  %[4]d, 1, 2, 3, d - 10, 4, map('team', concat('t', toString(number %% 10)))
FROM (
  SELECT number,
    concat('check-', leftPad(toString(number %% %[2]d), 5, '0')) AS c,
    ['eu', 'us', 'ap'][intDiv(number, %[2]d) %% %[3]d + 1] AS loc,
    toDateTime64(%[5]d, 3, 'UTC') + toIntervalSecond(intDiv(number, %[2]d * %[3]d) * %[6]d) AS t,
    20 + cityHash64(number) %% 200 AS d,
    if(cityHash64(number, 1) %% 100 < 2, 500, 200) AS status
  FROM numbers(%[7]d))`, st.Database(), seed.checks, seed.locations, seed.interval.Milliseconds(), start.Unix(),
		int(seed.interval/time.Second), n), nil)
	if err != nil {
		b.Fatal(err)
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
	// The seed is one insert of millions of rows, which leaves check_latest
	// a row per (check, location) per block of it until the engine merges
	// them; the aggregator's inserts are a batch at a time, merged as they
	// come. Measure the merged table, as it is between batches.
	if err := st.Backend().Exec(ctx, "OPTIMIZE TABLE "+st.Database()+".check_latest FINAL", nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d results over %s inserted in %s, rolled up in %s", n, end.Sub(start).Round(time.Hour),
		inserted.Round(time.Second), (time.Since(began) - inserted).Round(time.Second))
	return end
}

// uncachedServer serves a's routes with its catalog read for every request
// (its clock passes catalogTTL at each look); the overview reads no figures
// ahead of its catalog when serial.
func uncachedServer(st *store.Store, serial ...bool) *httptest.Server {
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	a.noReadAhead = len(serial) > 0 && serial[0]
	var ticks atomic.Int64
	a.clock = func() time.Time { return time.Unix(0, 0).Add(time.Duration(ticks.Add(1)) * catalogTTL) }
	return httptest.NewServer(a.Handler())
}

// timings runs f rounds times, after one untimed warm-up run (the first
// read of a query shape plans it and loads its marks cold), and returns its
// p50 and p99 by nearest rank: of 100 rounds the p99 is the second slowest,
// of fewer it is the slowest (one stall of the machine decides it).
func timings(b *testing.B, rounds int, f func() error) (p50, p99 time.Duration) {
	b.Helper()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	d := make([]time.Duration, rounds)
	for i := range d {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d[i] = time.Since(t0)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return nearestRank(d, 50), nearestRank(d, 99)
}

// nearestRank is the pct-th percentile of sorted by nearest rank: the
// smallest value at least pct % of them are at or below.
func nearestRank(sorted []time.Duration, pct int) time.Duration {
	return sorted[max((len(sorted)*pct+99)/100-1, 0)]
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

// reporter reports a p50 and p99 as metrics, and as it goes on stderr:
// the whole run takes minutes.
func reporter(b *testing.B) func(name string, p50, p99 time.Duration) {
	return func(name string, p50, p99 time.Duration) {
		b.ReportMetric(float64(p50.Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, name+"-p99-ms")
		fmt.Fprintf(os.Stderr, "%s: p50 %s, p99 %s\n", name, p50, p99)
	}
}

// compare times a read from the rollups (or check_latest) and the same
// answer from the raw rows, and reports both and raw/rollup, the ratio of
// their p50s.
func compare(b *testing.B, name string, rounds int, rollup, raw func() error) {
	report := reporter(b)
	r50, r99 := timings(b, rounds, rollup)
	report(name+"-rollup", r50, r99)
	w50, w99 := timings(b, rounds, raw)
	report(name+"-raw", w50, w99)
	b.ReportMetric(float64(w50)/float64(r50), name+"-raw/rollup")
	fmt.Fprintf(os.Stderr, "%s: raw/rollup %.2f\n", name, float64(w50)/float64(r50))
}

// checkOverview fails b unless the overview's figures from the rollups are
// the raw rows'.
func checkOverview(b *testing.B, st *store.Store, ids []string, now time.Time, interval time.Duration) {
	ctx := context.Background()
	rolled, err := st.Overview(ctx, ids, now, interval)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := st.OverviewFromRaw(ctx, ids, now)
	if err != nil {
		b.Fatal(err)
	}
	if len(rolled) != len(ids) || len(raw) != len(ids) {
		b.Fatalf("%d checks from the rollups, %d from the raw rows", len(rolled), len(raw))
	}
	for i := range rolled {
		r, w := rolled[i], raw[i]
		if r.Runs10m != w.Runs10m || r.Runs24h != w.Runs24h || r.Runs30d != w.Runs30d || r.Successes30d != w.Successes30d ||
			r.Successes24h != w.Successes24h {
			b.Fatalf("%s: rollups %+v, raw %+v", r.CheckID, r, w)
		}
	}
}

// checkCatalog fails b unless check_latest gives the raw rows' newest
// results, and returns how many (check, location) pairs it has.
func checkCatalog(b *testing.B, st *store.Store, now time.Time) int {
	ctx := context.Background()
	latest, err := st.LatestResults(ctx, now.Add(-checkLookback), nil)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := st.LatestResultsFromRaw(ctx, now.Add(-checkLookback), nil)
	if err != nil {
		b.Fatal(err)
	}
	if !reflect.DeepEqual(latest, raw) {
		b.Fatalf("check_latest: %d newest results, raw rows: %d, or they differ", len(latest), len(raw))
	}
	return len(latest)
}

// dailyUptime is the status page's read: runs and successes per check and
// day over 90 days, of a group of checks.
type dailyUptime struct {
	CheckID   string    `ch:"check_id"`
	Day       time.Time `ch:"day"`
	Runs      uint64    `ch:"runs"`
	Successes uint64    `ch:"successes"`
}

// readDailyUptime reads dailyUptime from the day rollups, or from the raw
// rows when raw.
func readDailyUptime(ctx context.Context, st *store.Store, checks []string, now time.Time, raw bool) ([]dailyUptime, error) {
	q := `SELECT toString(check_id) AS check_id, bucket AS day, sum(runs) AS runs, sum(successes) AS successes
FROM ` + st.Database() + `.check_rollup_1d FINAL
PREWHERE check_id IN {checks:Array(String)} AND bucket >= toStartOfDay({from:DateTime64(3, 'UTC')})`
	if raw {
		q = `SELECT toString(check_id) AS check_id, toDateTime(toStartOfDay(scheduled_at), 'UTC') AS day,
  countIf(failure_class != '` + store.OverloadClass + `') AS runs,
  countIf(success AND failure_class != '` + store.OverloadClass + `') AS successes
FROM ` + st.Database() + `.check_results FINAL
PREWHERE check_id IN {checks:Array(String)} AND scheduled_at >= toStartOfDay({from:DateTime64(3, 'UTC')})`
	}
	var out []dailyUptime
	err := st.Backend().Select(ctx, &out, q+"\nGROUP BY check_id, day ORDER BY check_id, day",
		store.Params{"checks": store.ArrayParam(checks), "from": store.TimeParam(now.Add(-90 * 24 * time.Hour))})
	return out, err
}

// BenchmarkDashboard measures, with 1,000 checks × 30 days rolled up, the
// p50 and p99 of the overview of all of them in one request and of the
// check list, of one check's 30-day stats and 30-day (1 h steps) and
// 24-hour (5 m steps) series, through the router; and each read from the
// rollups (or check_latest) next to the same answer from the raw rows
// (raw/rollup: the ratio of their p50s), with the status page's 90 days of
// daily uptime of 20 checks. Run it once:
// go test -run '^$' -bench 'Dashboard$' -benchtime 1x ./services/query/api
func BenchmarkDashboard(b *testing.B) {
	st, ids, now := benchStore(b, benchSeed{checks: benchChecks, locations: benchLocations, interval: benchInterval})
	ctx := context.Background()
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	checkOverview(b, st, ids, now, benchInterval)
	if n := checkCatalog(b, st, now); n != benchChecks*benchLocations {
		b.Fatalf("%d newest results", n)
	}
	group := ids[100:120]
	daily, err := readDailyUptime(ctx, st, group, now, false)
	if err != nil {
		b.Fatal(err)
	}
	rawDaily, err := readDailyUptime(ctx, st, group, now, true)
	if err != nil {
		b.Fatal(err)
	}
	if len(daily) != 20*31 || !reflect.DeepEqual(daily, rawDaily) {
		b.Fatalf("daily uptime: %d rows from the rollups, %d from the raw rows, or they differ", len(daily), len(rawDaily))
	}
	// The 30 days ending now, as GET …/stats?window=30d reads them: a seed
	// reused (PICKET_TEST_CHDB_DIR) ends minutes before now, and a window
	// starting that long before the raw rows' TTL reads those minutes from
	// the rollups.
	last30d := func() store.StatsQuery {
		now := time.Now()
		return store.StatsQuery{CheckID: "check-00001", From: now.Add(-30 * 24 * time.Hour), To: now}
	}
	sq := last30d()
	w, err := st.WindowStats(ctx, sq)
	if err != nil {
		b.Fatal(err)
	}
	if r, err := st.Stats(ctx, sq); err != nil || w.Samples != r.Samples || w.Successes != r.Successes {
		b.Fatalf("30-day stats: rollups %+v, raw %+v (%v)", w, r, err)
	}
	// 100 rounds: the p99 is the second slowest, not the slowest.
	const rounds = 100
	report := reporter(b)
	unc := uncachedServer(st)
	defer unc.Close()
	serial := uncachedServer(st, true) // the catalog, then the figures
	defer serial.Close()
	for b.Loop() {
		p50, p99 := timings(b, rounds, httpGet(srv, "/api/v1/overview?limit=1000"))
		report("overview-http", p50, p99)
		p50, p99 = timings(b, rounds, httpGet(unc, "/api/v1/overview?limit=1000"))
		report("overview-http-uncached", p50, p99)
		p50, p99 = timings(b, rounds, httpGet(serial, "/api/v1/overview?limit=1000"))
		report("overview-http-uncached-serial", p50, p99)
		p50, p99 = timings(b, rounds, httpGet(srv, "/api/v1/checks"))
		report("checks-http", p50, p99)
		p50, p99 = timings(b, rounds, httpGet(unc, "/api/v1/checks"))
		report("checks-http-uncached", p50, p99)
		compare(b, "overview", rounds,
			func() error { _, err := st.Overview(ctx, ids, now, benchInterval); return err },
			func() error { _, err := st.OverviewFromRaw(ctx, ids, now); return err })
		compare(b, "catalog", rounds,
			func() error { _, err := st.LatestResults(ctx, now.Add(-checkLookback), nil); return err },
			func() error { _, err := st.LatestResultsFromRaw(ctx, now.Add(-checkLookback), nil); return err })

		p50, p99 = timings(b, rounds, httpGet(srv, "/api/v1/checks/check-00001/stats?window=30d"))
		report("stats30d-http", p50, p99)
		compare(b, "stats30d", rounds,
			func() error { _, err := st.WindowStats(ctx, last30d()); return err },
			func() error { _, err := st.Stats(ctx, last30d()); return err })
		for _, s := range []struct {
			name   string
			window time.Duration
			step   time.Duration
		}{{"series30d", 30 * 24 * time.Hour, time.Hour}, {"series24h", 24 * time.Hour, 5 * time.Minute}} {
			p50, p99 := timings(b, rounds, httpGet(srv, fmt.Sprintf("/api/v1/checks/check-00001/series?figure=p95&window=%s&step=%s", s.window, s.step)))
			report(s.name+"-http", p50, p99)
			q := store.SeriesQuery{CheckID: "check-00001", From: now.Add(-s.window), To: now, Step: s.step}
			compare(b, s.name, rounds,
				func() error { _, err := st.Series(ctx, q); return err },
				func() error { _, err := st.SeriesFromRaw(ctx, q); return err })
		}
		compare(b, "status90d", rounds,
			func() error { _, err := readDailyUptime(ctx, st, group, now, false); return err },
			func() error { _, err := readDailyUptime(ctx, st, group, now, true); return err })
	}
}

// BenchmarkOverview10k measures the overview's scale: 10,000 checks × 30
// days (one location, every 6 hours: the check count is what it scales with,
// not the results per check), the whole list in pages of 1,000 through the
// router, and the figures of one page from the rollups and the raw rows.
// go test -run '^$' -bench 'Overview10k' -benchtime 1x ./services/query/api
func BenchmarkOverview10k(b *testing.B) {
	const checks, interval = 10_000, 6 * time.Hour
	st, ids, now := benchStore(b, benchSeed{checks: checks, locations: 1, interval: interval})
	ctx := context.Background()
	a := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	checkOverview(b, st, ids[:1000], now, interval)
	if n := checkCatalog(b, st, now); n != checks {
		b.Fatalf("%d newest results", n)
	}
	// 100 rounds: the p99 is the second slowest, not the slowest.
	const rounds = 100
	report := reporter(b)
	unc := uncachedServer(st)
	defer unc.Close()
	for b.Loop() {
		p50, p99 := timings(b, rounds, httpGet(srv, "/api/v1/overview?limit=1000"))
		report("overview-page-http", p50, p99)
		p50, p99 = timings(b, rounds, httpGet(unc, "/api/v1/overview?limit=1000"))
		report("overview-page-http-uncached", p50, p99)
		p50, p99 = timings(b, 5, func() error {
			next := ""
			for range checks / 1000 {
				var o OverviewJSON
				if err := getJSON(srv, "/api/v1/overview?limit=1000&cursor="+next, &o); err != nil {
					return err
				}
				if next = o.NextCursor; next == "" {
					break
				}
			}
			return nil
		})
		report("overview-all-http", p50, p99)
		compare(b, "overview-page", rounds,
			func() error { _, err := st.Overview(ctx, ids[:1000], now, interval); return err },
			func() error { _, err := st.OverviewFromRaw(ctx, ids[:1000], now); return err })
		compare(b, "catalog", rounds,
			func() error { _, err := st.LatestResults(ctx, now.Add(-checkLookback), nil); return err },
			func() error { _, err := st.LatestResultsFromRaw(ctx, now.Add(-checkLookback), nil); return err })
	}
}

func getJSON(srv *httptest.Server, path string, v any) error {
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
