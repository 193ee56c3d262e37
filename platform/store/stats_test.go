package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
)

// generate returns one result per location every interval over [from, to),
// each location's ticks at its own random millisecond offset, ordered by time.
// Latencies are long-tailed with microsecond resolution; some runs skip
// phases (a cached DNS answer, a reused connection, plain HTTP), a tenth
// fail in one of several ways, with what a failure leaves of the phases, and
// a few were skipped by an overloaded prober (with whatever times it left).
func generate(rng *rand.Rand, check string, locations []string, from, to time.Time, interval time.Duration) []store.ResultRow {
	var rows []store.ResultRow
	for _, loc := range locations {
		offset := time.Duration(rng.Int64N(int64(interval/time.Millisecond))) * time.Millisecond
		for tick := from.Add(offset); tick.Before(to); tick = tick.Add(interval) {
			rows = append(rows, randomResult(rng, check, loc, tick, interval))
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].ScheduledAt.Before(rows[j].ScheduledAt) })
	return rows
}

func randomResult(rng *rand.Rand, check, loc string, tick time.Time, interval time.Duration) store.ResultRow {
	ms := func(scale float64) float64 { return math.Round((0.1+rng.ExpFloat64())*scale*1000) / 1000 }
	r := store.ResultRow{
		ResultID: events.ResultID(check, loc, tick), CheckID: check, CheckName: "Name of " + check, CheckType: "http",
		Location: loc, ScheduledAt: tick, StartedAt: tick, IntervalMS: uint32(interval / time.Millisecond), Attempts: 1,
		HTTPStatus: 200,
	}
	if rng.IntN(10) < 7 {
		r.DNSMS = ms(4)
	}
	if rng.IntN(10) < 9 {
		r.ConnectMS = ms(12)
	}
	if loc != "ap" && rng.IntN(10) < 8 { // ap probes over plain HTTP
		r.TLSMS = ms(30)
	}
	r.ProcessingMS, r.TransferMS = ms(60), ms(8)
	switch f := rng.IntN(100); {
	case f < 3:
		r.HTTPStatus, r.FailureClass = 0, "FAILURE_CLASS_DNS"
		r.ConnectMS, r.TLSMS, r.ProcessingMS, r.TransferMS = 0, 0, 0, 0
	case f < 5:
		r.HTTPStatus, r.FailureClass = 0, "FAILURE_CLASS_CONNECT"
		r.TLSMS, r.ProcessingMS, r.TransferMS = 0, 0, 0
	case f < 7:
		r.HTTPStatus, r.FailureClass, r.TransferMS = 0, "FAILURE_CLASS_TIMEOUT", 0
		r.ProcessingMS = 5000
	case f < 12:
		r.HTTPStatus, r.FailureClass = []uint16{404, 500, 502, 503}[rng.IntN(4)], "FAILURE_CLASS_STATUS"
	case f < 20:
		r.HTTPStatus = 204
	case f < 24: // skipped: none of it may count, however long it waited
		r.HTTPStatus, r.FailureClass, r.TTFBMS = 0, store.OverloadClass, 0
		r.DNSMS, r.ConnectMS, r.TLSMS, r.ProcessingMS, r.TransferMS = 0, 0, 0, 0, 0
		r.DurationMS = 10000 + ms(100)
		return r
	}
	r.Success = r.FailureClass == ""
	if r.HTTPStatus != 0 {
		r.TTFBMS = r.DNSMS + r.ConnectMS + r.TLSMS + r.ProcessingMS
	}
	r.DurationMS = r.DNSMS + r.ConnectMS + r.TLSMS + r.ProcessingMS + r.TransferMS + ms(0.2)
	return r
}

// load writes rows the way the aggregator does: in batches, each followed by
// a rebuild of the rollups of its time range. Each batch also carries again
// a twentieth of the previous batch (a redelivery after a crash before the
// commit), and a last batch replays a random tenth of everything.
func load(tb testing.TB, s *store.Store, rows []store.ResultRow, batchSize int, rng *rand.Rand) {
	tb.Helper()
	ctx := context.Background()
	write := func(batch []store.ResultRow) {
		if err := s.InsertResults(ctx, slices.Clone(batch)); err != nil {
			tb.Fatal(err)
		}
		from, to := batch[0].ScheduledAt, batch[0].ScheduledAt
		seen := map[string]bool{}
		var checks []string
		for _, r := range batch {
			from, to = minTime(from, r.ScheduledAt), maxTime(to, r.ScheduledAt)
			if !seen[r.CheckID] {
				seen[r.CheckID] = true
				checks = append(checks, r.CheckID)
			}
		}
		if err := s.RebuildRollups(ctx, checks, from, to); err != nil {
			tb.Fatal(err)
		}
	}
	var prev []store.ResultRow
	for i := 0; i < len(rows); i += batchSize {
		batch := slices.Clone(rows[i:min(i+batchSize, len(rows))])
		for j := 0; j < len(prev); j += 20 {
			batch = append(batch, prev[j])
		}
		write(batch)
		prev = rows[i:min(i+batchSize, len(rows))]
	}
	var replay []store.ResultRow
	for _, r := range rows {
		if rng.IntN(10) == 0 {
			replay = append(replay, r)
		}
	}
	if len(replay) > 0 {
		write(replay)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// expected computes q's stats from the rows in Go, independently of the
// store: percentiles are the exact values at rank floor(q·(n−1)); runs
// skipped for overload count only as Skipped.
func expected(rows []store.ResultRow, q store.StatsQuery) store.Stats {
	st := store.Stats{StatusCodes: map[string]uint64{}, FailureClasses: map[string]uint64{}}
	var durations []float64
	var durationSum, ttfbSum float64
	phases := [5][]float64{}
	phaseSums := [5]float64{}
	timings := []*store.Timing{&st.Phases.DNS, &st.Phases.Connect, &st.Phases.TLS, &st.Phases.Processing, &st.Phases.Transfer}
	for _, r := range rows {
		if r.CheckID != q.CheckID || (q.Location != "" && r.Location != q.Location) ||
			r.ScheduledAt.Before(q.From) || !r.ScheduledAt.Before(q.To) {
			continue
		}
		if r.FailureClass == store.OverloadClass {
			st.Skipped++
			continue
		}
		st.Samples++
		if r.Success {
			st.Successes++
		} else {
			st.FailureClasses[r.FailureClass]++
		}
		st.StatusCodes[fmt.Sprint(r.HTTPStatus)]++
		durations = append(durations, r.DurationMS)
		durationSum += r.DurationMS
		ttfbSum += r.TTFBMS
		st.MaxResponseMS, st.MaxTTFBMS = math.Max(st.MaxResponseMS, r.DurationMS), math.Max(st.MaxTTFBMS, r.TTFBMS)
		for i, v := range []float64{r.DNSMS, r.ConnectMS, r.TLSMS, r.ProcessingMS, r.TransferMS} {
			phaseSums[i] += v
			if v > 0 {
				phases[i] = append(phases[i], v)
				timings[i].MaxMS = math.Max(timings[i].MaxMS, v)
			}
		}
	}
	st.DetailSamples = st.Samples
	if st.Samples == 0 {
		return st
	}
	n := float64(st.Samples)
	st.Availability = float64(st.Successes) / n
	st.AvgResponseMS, st.AvgTTFBMS = durationSum/n, ttfbSum/n
	st.Response = exactPercentiles(durations)
	st.AvgDNSMS, st.AvgConnectMS, st.AvgTLSMS = phaseSums[0]/n, phaseSums[1]/n, phaseSums[2]/n
	st.AvgProcessingMS, st.AvgTransferMS = phaseSums[3]/n, phaseSums[4]/n
	for i, vs := range phases {
		timings[i].Runs = uint64(len(vs))
		if len(vs) > 0 {
			timings[i].AvgMS = phaseSums[i] / float64(len(vs))
		}
		timings[i].Percentiles = exactPercentiles(vs)
	}
	return st
}

func exactPercentiles(vs []float64) store.Percentiles {
	if len(vs) == 0 {
		return store.Percentiles{}
	}
	s := slices.Sorted(slices.Values(vs))
	at := func(q float64) float64 { return s[int(math.Floor(q*float64(len(s)-1)))] }
	return store.Percentiles{P50: at(0.5), P90: at(0.9), P95: at(0.95), P99: at(0.99)}
}

// diffStats lists how got differs from want: counts, maxima and maps
// exactly, averages up to the order of float additions, percentiles within
// the sketch's 1 % relative accuracy.
func diffStats(got, want store.Stats) []string {
	var d []string
	exact := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	near := func(name string, g, w float64) {
		if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	// The embedded engine parses inserted decimal text with a fast float
	// parser that can round the last bit differently from Go (production's
	// native protocol sends the bits): a stored maximum may be 1 ulp from
	// the generated value.
	stored := func(name string, g, w float64) {
		if g != w && math.Nextafter(w, g) != g {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	within := func(name string, g, w store.Percentiles) {
		for i, p := range [][2]float64{{g.P50, w.P50}, {g.P90, w.P90}, {g.P95, w.P95}, {g.P99, w.P99}} {
			if math.Abs(p[0]-p[1]) > 0.01*p[1]*(1+1e-9) {
				d = append(d, fmt.Sprintf("%s p%v = %v, exact %v: off by %.3f %%", name, []int{50, 90, 95, 99}[i], p[0], p[1], 100*math.Abs(p[0]-p[1])/p[1]))
			}
		}
	}
	exact("samples", got.Samples, want.Samples)
	exact("skipped", got.Skipped, want.Skipped)
	exact("successes", got.Successes, want.Successes)
	exact("availability", got.Availability, want.Availability)
	exact("status codes", got.StatusCodes, want.StatusCodes)
	exact("failure classes", got.FailureClasses, want.FailureClasses)
	stored("max response", got.MaxResponseMS, want.MaxResponseMS)
	stored("max ttfb", got.MaxTTFBMS, want.MaxTTFBMS)
	exact("detail samples", got.DetailSamples, want.DetailSamples)
	near("avg response", got.AvgResponseMS, want.AvgResponseMS)
	near("avg ttfb", got.AvgTTFBMS, want.AvgTTFBMS)
	within("response", got.Response, want.Response)
	capped := func(name string, p store.Percentiles, maximum float64) {
		if p.P99 > maximum || p.P95 > maximum || p.P90 > maximum || p.P50 > maximum {
			d = append(d, fmt.Sprintf("%s percentiles %+v above the maximum %v", name, p, maximum))
		}
	}
	capped("response", got.Response, got.MaxResponseMS)
	for i, g := range []float64{got.AvgDNSMS, got.AvgConnectMS, got.AvgTLSMS, got.AvgProcessingMS, got.AvgTransferMS} {
		near("phases_ms "+phaseNames[i], g, []float64{want.AvgDNSMS, want.AvgConnectMS, want.AvgTLSMS, want.AvgProcessingMS, want.AvgTransferMS}[i])
	}
	gp := []store.Timing{got.Phases.DNS, got.Phases.Connect, got.Phases.TLS, got.Phases.Processing, got.Phases.Transfer}
	wp := []store.Timing{want.Phases.DNS, want.Phases.Connect, want.Phases.TLS, want.Phases.Processing, want.Phases.Transfer}
	for i := range gp {
		exact(phaseNames[i]+" runs", gp[i].Runs, wp[i].Runs)
		stored(phaseNames[i]+" max", gp[i].MaxMS, wp[i].MaxMS)
		near(phaseNames[i]+" avg", gp[i].AvgMS, wp[i].AvgMS)
		within(phaseNames[i], gp[i].Percentiles, wp[i].Percentiles)
		capped(phaseNames[i], gp[i].Percentiles, gp[i].MaxMS)
	}
	return d
}

var phaseNames = []string{"dns", "connect", "tls", "processing", "transfer"}

// dedup keeps one row per (check, location, tick), as the table does.
func dedup(rows []store.ResultRow) []store.ResultRow {
	seen := map[string]bool{}
	var out []store.ResultRow
	for _, r := range rows {
		if k := r.CheckID + "\x00" + r.Location + "\x00" + r.ScheduledAt.String(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// Stats over any window — edges at any second or millisecond, shorter than a
// minute, across hour and day boundaries, per location or not — read from
// the rollups plus the raw rows at the edges equal what the results add up to
// (computed here in Go), every result counted once although some were
// delivered two or three times: counts, availability, maxima, status and
// failure-class counts exactly, averages up to float rounding, percentiles
// within 1 %. So do the read of every rollup level (used where raw rows are
// gone) and the raw-only Stats.
func TestWindowStatsAreExactOverUnalignedWindows(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	rng := rand.New(rand.NewPCG(7, 11))
	// Two whole days and some, ending today: within every table's TTL.
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	start, end := day.Add(-150*time.Minute), day.Add(48*time.Hour+50*time.Minute)
	rows := generate(rng, "api", []string{"eu", "us", "ap"}, start, end, 20*time.Second)
	rows = append(rows, generate(rng, "web", []string{"eu"}, start, end, time.Minute)...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].ScheduledAt.Before(rows[j].ScheduledAt) })
	load(t, s, rows, 1500, rng)
	rows = dedup(rows)

	var eu store.ResultRow
	for _, r := range rows {
		if r.CheckID == "api" && r.Location == "eu" && r.ScheduledAt.After(day.Add(10*time.Hour)) {
			eu = r
			break
		}
	}
	windows := []store.StatsQuery{
		{From: day, To: day.Add(24 * time.Hour)}, // exactly one day
		{From: day.Add(-time.Second), To: day.Add(24*time.Hour + time.Second), Location: "us"},
		{From: day.Add(10*time.Hour + 59*time.Minute + 30*time.Second), To: day.Add(11*time.Hour + 30*time.Second)}, // across an hour
		{From: day.Add(24*time.Hour - 15*time.Second), To: day.Add(24*time.Hour + 15*time.Second), Location: "eu"},  // across midnight
		{From: day.Add(10*time.Hour + 5*time.Second), To: day.Add(10*time.Hour + 45*time.Second)},                   // inside one minute
		{From: eu.ScheduledAt, To: eu.ScheduledAt.Add(time.Millisecond), Location: "eu"},                            // one result: from is inclusive
		{From: eu.ScheduledAt.Add(-time.Second), To: eu.ScheduledAt, Location: "eu"},                                // to is exclusive
		{From: start.Add(-time.Hour), To: end.Add(time.Hour)},                                                       // everything
		{From: start.Add(-2 * time.Hour), To: start.Add(-time.Hour)},                                                // nothing yet
		{From: day.Add(90 * time.Minute), To: day.Add(47*time.Hour + 30*time.Minute), Location: "ap"},               // whole hours around a whole day
	}
	lengths := []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 50 * time.Hour}
	locations := []string{"", "eu", "us", "ap"}
	for i := range 80 {
		from := start.Add(-10*time.Minute + time.Duration(rng.Int64N(int64(end.Sub(start)))))
		length := time.Duration(1 + rng.Int64N(int64(lengths[i%len(lengths)])))
		from, length = from.Truncate(time.Second), length.Truncate(time.Second)+time.Second
		if i%5 == 0 { // millisecond edges
			from, length = from.Add(time.Duration(rng.IntN(1000))*time.Millisecond), length+time.Duration(rng.IntN(1000))*time.Millisecond
		}
		windows = append(windows, store.StatsQuery{From: from, To: from.Add(length), Location: locations[rng.IntN(len(locations))]})
	}
	for _, w := range windows {
		w.CheckID = "api"
		want := expected(rows, w)
		name := fmt.Sprintf("[%s, %s) location %q", w.From.Format("Jan 2 15:04:05.000"), w.To.Format("Jan 2 15:04:05.000"), w.Location)
		for _, read := range []struct {
			name string
			read func(context.Context, store.StatsQuery) (store.Stats, error)
		}{
			{"window", s.WindowStats},
			{"every level", func(ctx context.Context, q store.StatsQuery) (store.Stats, error) {
				return store.WindowStatsEveryLevel(ctx, s, q)
			}},
			{"raw", s.Stats},
		} {
			got, err := read.read(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffStats(got, want) {
				t.Errorf("%s: %s: %s", name, read.name, d)
			}
		}
	}
	// The fixed windows hold what they are there for.
	if st, _ := s.WindowStats(ctx, store.StatsQuery{CheckID: "api", Location: "eu", From: eu.ScheduledAt, To: eu.ScheduledAt.Add(time.Millisecond)}); st.Samples != 1 {
		t.Errorf("the window starting at a result's tick has %d samples, want it", st.Samples)
	}
	if st, _ := s.WindowStats(ctx, store.StatsQuery{CheckID: "api", From: day, To: day.Add(24 * time.Hour)}); st.Samples+st.Skipped != 3*24*180 ||
		st.Skipped == 0 || st.Phases.TLS.Runs == 0 || st.Phases.TLS.Runs >= st.Samples || st.Phases.TLS.AvgMS <= st.AvgTLSMS ||
		st.FailureClasses[store.OverloadClass] != 0 || st.MaxResponseMS >= 10000 {
		t.Errorf("one day: %d samples + %d skipped (want %d), TLS in %d runs, avg %v when it happened, %v over every run; classes %v, max %v",
			st.Samples, st.Skipped, 3*24*180, st.Phases.TLS.Runs, st.Phases.TLS.AvgMS, st.AvgTLSMS, st.FailureClasses, st.MaxResponseMS)
	}
}

// Buckets rolled up before the rollups had phase columns (migration 0009)
// keep their counts but have no phase timings: they are left out of the
// phase figures, which say how many runs they cover, instead of pulling the
// averages towards 0.
func TestWindowStatsLeaveOutBucketsRolledUpWithoutPhases(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(10 * time.Hour)
	var rows []store.ResultRow
	for i := range 120 { // two minutes
		rows = append(rows, result("api", t0.Add(time.Duration(i)*time.Second), 200, true, 100))
	}
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildRollups(ctx, []string{"api"}, t0, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The first minute as the rebuild wrote it before migration 0009.
	err := s.Backend().Exec(ctx, `INSERT INTO `+s.Database()+`.check_rollup_1m
  (check_id, location, bucket, runs, successes, duration_sum, duration_max, ttfb_sum, ttfb_max, duration_q, status_counts, class_counts, version)
SELECT check_id, location, toStartOfMinute(scheduled_at), count(), countIf(success), sum(duration_ms), max(duration_ms),
  sum(ttfb_ms), max(ttfb_ms), quantilesDDState(0.01, 0.5, 0.9, 0.95, 0.99)(duration_ms),
  sumMap(map(http_status, toUInt64(1))), sumMap(map(failure_class, toUInt64(1))), now64(3) + INTERVAL 1 SECOND
FROM `+s.Database()+`.check_results FINAL
WHERE scheduled_at < '`+t0.Add(time.Minute).Format("2006-01-02 15:04:05")+`'
GROUP BY check_id, location, toStartOfMinute(scheduled_at)`, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Read from the minute rollups, as where the raw rows are gone.
	st, err := store.WindowStatsEveryLevel(ctx, s, store.StatsQuery{CheckID: "api", From: t0, To: t0.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 120 || st.DetailSamples != 60 || st.AvgDNSMS != 1 || st.Phases.DNS.Runs != 60 || st.Phases.DNS.AvgMS != 1 ||
		st.AvgProcessingMS != 50 {
		t.Fatalf("%d samples, phases over %d: dns %v (%+v), processing %v; want 120, 60, 1, 60 runs of 1, 50",
			st.Samples, st.DetailSamples, st.AvgDNSMS, st.Phases.DNS, st.AvgProcessingMS)
	}
}

// A healthy target probed by an overloaded prober: the runs it skipped are
// counted as skipped and nowhere else — not as runs, failures, status codes,
// latency or phases — in the raw rows and in every rollup, even in a minute
// holding nothing but skipped runs.
func TestSkippedRunsCountOnlyAsSkipped(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(10 * time.Hour)
	var rows []store.ResultRow
	for i := range 180 { // three minutes at 1 s; the last one all skipped
		r := result("api", t0.Add(time.Duration(i)*time.Second), 200, true, 40)
		if i%3 != 0 || i >= 120 {
			r.Success, r.HTTPStatus, r.FailureClass, r.DurationMS, r.TTFBMS = false, 0, store.OverloadClass, 9000, 0
			r.DNSMS, r.ConnectMS, r.TLSMS, r.ProcessingMS, r.TransferMS = 0, 0, 0, 0, 0
		}
		rows = append(rows, r)
	}
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildRollups(ctx, []string{"api"}, t0, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, read := range []struct {
		name string
		read func(context.Context, store.StatsQuery) (store.Stats, error)
	}{
		{"raw", s.Stats},
		{"window", s.WindowStats},
		{"every level", func(ctx context.Context, q store.StatsQuery) (store.Stats, error) {
			return store.WindowStatsEveryLevel(ctx, s, q)
		}},
	} {
		for _, w := range []struct {
			from, to      time.Time
			runs, skipped uint64
		}{{t0, t0.Add(3 * time.Minute), 40, 140}, {t0.Add(2 * time.Minute), t0.Add(3 * time.Minute), 0, 60}} {
			st, err := read.read(ctx, store.StatsQuery{CheckID: "api", From: w.from, To: w.to})
			if err != nil {
				t.Fatal(err)
			}
			var wantAvail, wantMax, wantDNS float64
			wantCodes := map[string]uint64{}
			if w.runs > 0 {
				wantAvail, wantMax, wantDNS, wantCodes["200"] = 1, 40, 1, w.runs
			}
			if st.Samples != w.runs || st.Successes != w.runs || st.Skipped != w.skipped || st.Availability != wantAvail ||
				st.MaxResponseMS != wantMax || st.AvgResponseMS != wantMax || st.MaxTTFBMS != wantMax/2 || len(st.FailureClasses) != 0 ||
				fmt.Sprint(st.StatusCodes) != fmt.Sprint(wantCodes) || st.Phases.DNS.Runs != w.runs || st.AvgDNSMS != wantDNS ||
				st.Response.P99 > wantMax || st.DetailSamples != w.runs {
				t.Errorf("%s [%s, %s): %+v; want %d runs, all successes, %d skipped", read.name,
					w.from.Format("15:04"), w.to.Format("15:04"), st, w.runs, w.skipped)
			}
		}
	}
}
