package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StatsQuery selects the results a Stats call summarises.
type StatsQuery struct {
	CheckID string
	// Location filters to one location; empty means all.
	Location string
	// From is inclusive and To exclusive. Results are scheduled at whole
	// milliseconds, so finer precision changes nothing.
	From, To time.Time
}

// Stats summarises a check's results over a time range. Counts, averages and
// maxima are exact; percentiles come from DDSketches (see Percentiles).
type Stats struct {
	// Samples counts the runs that measured the target; Skipped the runs the
	// prober skipped for its own overload (OverloadClass), which no other
	// figure counts: they say nothing about the target.
	Samples       uint64
	Skipped       uint64
	Successes     uint64
	Availability  float64 // 0..1; 0 when there are no samples
	AvgResponseMS float64
	MaxResponseMS float64
	// Response are the response time's percentiles, over DetailSamples.
	Response  Percentiles
	AvgTTFBMS float64
	MaxTTFBMS float64
	// StatusCodes counts each HTTP status; 0 stands for "no response".
	StatusCodes map[string]uint64
	// FailureClasses counts the failed runs by failure class (skipped runs
	// are not failures: see Skipped).
	FailureClasses map[string]uint64
	// Phase averages over every run, in milliseconds, a run without the phase
	// counting 0: each phase's mean share of a run, so that together they add
	// up to about AvgResponseMS.
	AvgDNSMS, AvgConnectMS, AvgTLSMS, AvgProcessingMS, AvgTransferMS float64
	// DetailSamples counts the runs the percentiles and phase figures cover:
	// every sample, except runs in rollup buckets built before migration 0009
	// gave the rollups phases and nanosecond sketches.
	DetailSamples uint64
	// Phases describe each phase over the runs in which it happened.
	Phases PhaseTimings
}

// Percentiles are a latency's p50, p90, p95 and p99 in milliseconds. Each is
// a DDSketch's estimate (ClickHouse's quantilesDD, 1 % relative accuracy, of
// nanoseconds) of the value at 0-based rank floor(q·(n−1)) of the n sorted
// values, and lies within 1 % of it. 0 when there are no values.
type Percentiles struct {
	P50, P90, P95, P99 float64
}

// Timing summarises one phase's time, in milliseconds, over the runs in
// which the phase happened (its time > 0).
type Timing struct {
	Runs         uint64
	AvgMS, MaxMS float64
	Percentiles
}

// PhaseTimings are the timings of a run's phases.
type PhaseTimings struct {
	DNS, Connect, TLS, Processing, Transfer Timing
}

// Stats computes q's summary from the raw rows only, counting each result
// once. WindowStats gives the same answer from the rollups.
func (s *Store) Stats(ctx context.Context, q StatsQuery) (Stats, error) {
	from, to := ceilMilli(q.From), ceilMilli(q.To)
	var parts []part
	if from.Before(to) {
		parts = []part{{from: from, to: to}}
	}
	return s.stats(ctx, q, parts)
}

// WindowStats computes q's summary like Stats, reading the whole days of
// [From, To) from the day rollups, the whole hours and minutes around them
// from the hour and minute rollups where that is cheaper than their raw rows
// (checks probed more often than about every second), and the rest from the
// raw rows (see plan), combined in one query after a lookup of the check's
// interval. Counts, availability, averages, maxima, status and class counts
// equal Stats' exactly (up to the order of floating-point additions), and
// percentiles stay within the sketches' 1 %, which merging does not widen.
//
// It relies on the rollups being rebuilt after every write (RebuildRollups).
// Where raw rows are past their 30-day TTL it reads the minutes, hours and
// days, so it stays exact but for the sub-minute edges of such a window, as
// long as the rollups are kept: minutes 90 days, hours 2 years.
func (s *Store) WindowStats(ctx context.Context, q StatsQuery) (Stats, error) {
	return s.windowStats(ctx, q, false)
}

// windowStats is WindowStats, reading every rollup level it can when
// everyLevel, as for a window older than the raw rows.
func (s *Store) windowStats(ctx context.Context, q StatsQuery, everyLevel bool) (Stats, error) {
	from, to := ceilMilli(q.From), ceilMilli(q.To)
	p := plan{rawFrom: time.Now().Add(-rawRetention), rawDays: true, fresh: time.Now().Add(-freshMargin)}
	if !everyLevel && !Minute.ceil(from).Add(time.Minute).After(to) { // a whole minute to plan for
		var err error
		if p.interval, p.rawFrom, err = s.rawRows(ctx, q.CheckID); err != nil {
			return Stats{}, err
		}
	}
	return s.stats(ctx, q, p.split(from, to))
}

// rawRows is the probing interval of one of the check's stored results (0
// if none is stored) and, by the engine's clock, when the oldest raw rows
// that are surely still kept were scheduled.
//
// check_results' TTL removes a row once its scheduled second is 30 days
// before the engine's clock, in a merge; a query reads the parts as they
// were when it started. So a row scheduled at or after the engine's now less
// 30 days and rawTTLMargin is there for any query starting within
// rawTTLMargin, and a 30-day window ending now reads (nearly) all of its
// rows raw. Asking the engine's clock makes that margin safe where the
// service's clock disagrees with it.
func (s *Store) rawRows(ctx context.Context, checkID string) (time.Duration, time.Time, error) {
	var rows []struct {
		IntervalMS uint32    `ch:"interval_ms"`
		Now        time.Time `ch:"now"`
	}
	err := s.b.Select(ctx, &rows, s.sql(`SELECT now64(3, 'UTC') AS now, ifNull((SELECT interval_ms FROM ${db}.check_results
WHERE check_id = {check_id:String} LIMIT 1), 0) AS interval_ms`), Params{"check_id": checkID})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("interval of %s: %w", checkID, err)
	}
	if len(rows) == 0 {
		return 0, time.Now().Add(-rawRetention), nil
	}
	return time.Duration(rows[0].IntervalMS) * time.Millisecond, rows[0].Now.Add(-rawTTL + rawTTLMargin), nil
}

func (s *Store) stats(ctx context.Context, q StatsQuery, parts []part) (Stats, error) {
	if len(parts) == 0 {
		return RollupStats{}.summary(), nil
	}
	merge := s.merge
	if allRaw(parts) {
		merge = s.aggregateRaw
	}
	r, err := merge(ctx, q.CheckID, q.Location, parts)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of %s: %w", q.CheckID, err)
	}
	return r.summary(), nil
}

// ceilMilli is the first whole millisecond at or after t: results are
// scheduled at whole milliseconds.
func ceilMilli(t time.Time) time.Time {
	if c := t.Truncate(time.Millisecond); !c.Equal(t) {
		return c.Add(time.Millisecond).UTC()
	}
	return t.UTC()
}

// part is a time range read from one source: a rollup's whole buckets, or
// the raw rows when res is nil.
type part struct {
	res      *Resolution
	from, to time.Time
}

const (
	// rawTTL is how long check_results keeps a row (its TTL, 0001), by the
	// engine's clock; rawRetention is that less an hour for clocks that
	// disagree, where the engine's clock is not asked (see rawRows).
	rawTTL       = 30 * 24 * time.Hour
	rawRetention = rawTTL - time.Hour
	// rawTTLMargin is how long after reading the engine's clock a query
	// reading raw rows by it may start (see rawRows).
	rawTTLMargin = 30 * time.Second
	// minRawRows is how many raw rows per location a range must hold before
	// reading it from the hour or minute rollups pays. Reading a rollup
	// table costs a fixed 20–50 ms however few of its rows a window needs:
	// ClickHouse decodes whole granules of a column, and a row's six
	// DDSketches each decode into a dense array spanning the smallest to the
	// largest value. That is the time of about 100,000 raw rows (measured on
	// ClickHouse 26.5, see BenchmarkStats30Days).
	minRawRows = 100_000
)

// plan decides where each part of a window is read from.
type plan struct {
	// interval is the check's probing interval; 0 when unknown (no raw row:
	// only the rollups can hold anything).
	interval time.Duration
	// rawFrom is when the oldest raw rows that are surely still kept were
	// scheduled.
	rawFrom time.Time
	// countsOnly plans a read of the run and success counts only (SLOs),
	// whatever the interval: whole days and hours from their rollups, whole
	// minutes only where the raw rows may be gone. Without the sketches the
	// hours cost little, while the minutes' FINAL read costs more than the
	// raw edges it would spare (measured for 30 days of a check every 10 s:
	// days 2 ms, hours 7 ms, minutes 24 ms, all the raw rows 34 ms).
	countsOnly bool
	// rawDays reads whole days, like hours and minutes, from the raw rows
	// where they are fewer than minRawRows: for one check's figures, where
	// each rollup table read costs its fixed time (measured: a check probed
	// every 30 minutes, 30 days from the raw rows 5× faster than from the
	// day rollups, BenchmarkDashboard). Without it days always come from
	// the day rollups, as for the overview of many checks at once, whose
	// reads of every check's rows cost by the row, and a day row stands for
	// a day's raw rows.
	rawDays bool
	// fresh, when set, is the end of the hours and days read from their
	// rollups: one that closed later is read from the finer levels, its
	// rebuild (seconds after its last minute closed) maybe still to land.
	fresh time.Time
}

// freshMargin is how long after an hour or day closes the reads of windows
// ending now still take it from the finer rollups (plan.fresh).
const freshMargin = 2 * time.Minute

// uses says whether to read [from, to) at resolution r rather than finer:
// always for days (unless rawDays), for hours and minutes when the range
// holds enough raw rows or when they may be gone.
func (p plan) uses(r Resolution, from, to time.Time) bool {
	if p.countsOnly {
		return r != Minute || from.Before(p.rawFrom)
	}
	return r == Day && !p.rawDays || p.interval <= 0 || from.Before(p.rawFrom) || to.Sub(from)/p.interval >= minRawRows
}

// split splits [from, to) into the coarsest whole buckets it uses: the whole
// days inside, then the whole hours on either side of them, then the whole
// minutes, then raw rows for what remains at the two edges. With every level
// used, a window of 30 days and some seconds reads at most 30 days, 46
// hours, 118 minutes and two sub-minute edges; one with no whole minute reads
// only raw rows.
//
// A window that starts before rawFrom is split there: only [from, rawFrom)
// must come from the rollups, and the rest is planned as any window whose
// raw rows are kept (a 30-day window reads at most the minutes before
// rawFrom from the rollups, not the whole day it starts in; none when they
// are less than a minute). Adjacent raw parts are one.
func (p plan) split(from, to time.Time) []part {
	if p.interval > 0 && from.Before(p.rawFrom) && p.rawFrom.Before(to) {
		early := plan{rawFrom: p.rawFrom, rawDays: p.rawDays} // interval unknown: every level
		return joinRaw(append(early.split(from, p.rawFrom), p.split(p.rawFrom, to)...))
	}
	var out []part
	var split func(from, to time.Time, levels []Resolution)
	split = func(from, to time.Time, levels []Resolution) {
		if !from.Before(to) {
			return
		}
		for i := range levels {
			a, b := levels[i].ceil(from), levels[i].truncate(to)
			if levels[i] != Minute && !p.fresh.IsZero() && p.fresh.Before(to) {
				b = levels[i].truncate(p.fresh)
			}
			if a.Before(b) && p.uses(levels[i], from, to) {
				split(from, a, levels[i+1:])
				out = append(out, part{res: &levels[i], from: a, to: b})
				split(b, to, levels[i+1:])
				return
			}
		}
		out = append(out, part{from: from, to: to})
	}
	split(from.UTC(), to.UTC(), []Resolution{Day, Hour, Minute})
	return out
}

// joinRaw makes each run of adjacent raw parts one part.
func joinRaw(parts []part) []part {
	var out []part
	for _, pt := range parts {
		if n := len(out); n > 0 && pt.res == nil && out[n-1].res == nil && out[n-1].to.Equal(pt.from) {
			out[n-1].to = pt.to
			continue
		}
		out = append(out, pt)
	}
	return out
}

// merge adds up checkID's parts (location "" for every location) in one
// query: each source contributes rows of sketch states and sums (a rollup
// its stored rows, the raw rows theirs aggregated), and the outer query
// sums the counts and sums, takes the maximum of maxima, merges the maps
// with sumMap and the sketches with quantilesDDMerge.
func (s *Store) merge(ctx context.Context, checkID, location string, parts []part) (RollupStats, error) {
	query, p := mergeQuery(parts)
	p["check_id"], p["location"] = checkID, location
	var rows []RollupStats
	if err := s.b.Select(ctx, &rows, s.sql(query), p); err != nil {
		return RollupStats{}, err
	}
	if len(rows) == 0 {
		return RollupStats{}, nil
	}
	return rows[0], nil
}

// allRaw says whether every part is read from the raw rows.
func allRaw(parts []part) bool {
	for _, pt := range parts {
		if pt.res != nil {
			return false
		}
	}
	return true
}

// aggregateRaw is merge for parts read from the raw rows only: one
// aggregation of the rows into RollupStats' columns (rawFinalAggregates), no
// sketch states merged again.
func (s *Store) aggregateRaw(ctx context.Context, checkID, location string, parts []part) (RollupStats, error) {
	p := Params{"check_id": checkID, "location": location}
	ranges := partRanges(parts, p)
	var rows []RollupStats
	err := s.b.Select(ctx, &rows, s.sql(`SELECT `+rawFinalAggregates+`
FROM ${db}.check_results FINAL
PREWHERE check_id = {check_id:String} AND ({location:String} = '' OR location = {location:String})
  AND ((`+strings.Join(ranges["check_results"], ") OR (")+`))`), p)
	if err != nil || len(rows) == 0 {
		return RollupStats{}, err
	}
	return rows[0], nil
}

// rawFinalAggregates compute finalAggregates' columns from raw rows in one
// aggregation, the phases as arrays (-ForEach): a query ClickHouse plans in
// about half the time of the raw rows' states merged again, planning being
// most of the time of a sparse check's 30 days (measured: 14 ms against 25
// ms for 2,880 rows).
var rawFinalAggregates = func() string {
	var cols []string
	for _, p := range phaseNames {
		cols = append(cols, p+"_ms")
	}
	phases := "[" + strings.Join(cols, ", ") + "]"
	ms := func(q string) string { return "arrayMap(x -> ifNotFinite(x / 1e6, 0), " + q + ")" }
	return `countIf(` + measured + `) AS runs, countIf(success AND ` + measured + `) AS successes,
  sumIf(duration_ms, ` + measured + `) AS duration_sum, maxIf(duration_ms, ` + measured + `) AS duration_max,
  sumIf(ttfb_ms, ` + measured + `) AS ttfb_sum, maxIf(ttfb_ms, ` + measured + `) AS ttfb_max,
  sumMapIf(map(http_status, toUInt64(1)), ` + measured + `) AS status_counts,
  sumMap(map(toString(failure_class), toUInt64(1))) AS class_counts,
  countIf(` + measured + `) AS detail_runs,
  ` + ms("quantilesDDIf"+ddsketch+"(duration_ms * 1e6, "+measured+")") + ` AS duration_q,
  sumForEachIf(arrayMap(x -> toUInt64(x > 0), ` + phases + `), ` + measured + `) AS phase_counts,
  sumForEachIf(` + phases + `, ` + measured + `) AS phase_sums,
  maxForEachIf(` + phases + `, ` + measured + `) AS phase_maxes,
  arrayMap(q -> ` + ms("q") + `, quantilesDDIfForEach` + ddsketch + `(arrayMap(x -> x * 1e6, ` + phases + `),
    arrayMap(x -> x > 0 AND ` + measured + `, ` + phases + `))) AS phase_q`
}()

// partRanges adds the bounds of parts to p and returns, per table, the
// condition selecting each part's rows.
func partRanges(parts []part, p Params) map[string][]string {
	ranges := map[string][]string{}
	for i, pt := range parts {
		table, col := "check_results", "scheduled_at"
		if pt.res != nil {
			table, col = pt.res.table, "bucket"
		}
		f, t := "from"+strconv.Itoa(i), "to"+strconv.Itoa(i)
		p[f], p[t] = TimeParam(pt.from), TimeParam(pt.to)
		ranges[table] = append(ranges[table],
			fmt.Sprintf("%[1]s >= {%[2]s:DateTime64(3, 'UTC')} AND %[1]s < {%[3]s:DateTime64(3, 'UTC')}", col, f, t))
	}
	return ranges
}

// mergeQuery is merge's query and its time parameters.
func mergeQuery(parts []part) (string, Params) {
	p := Params{}
	ranges := partRanges(parts, p)
	var tables []string
	seen := map[string]bool{}
	for _, pt := range parts {
		table := "check_results"
		if pt.res != nil {
			table = pt.res.table
		}
		if !seen[table] {
			seen[table] = true
			tables = append(tables, table)
		}
	}
	var sources []string
	for _, table := range tables {
		cols := aggregateList(false, func(a aggregate) string { return a.column })
		if table == "check_results" {
			cols = aggregateList(false, func(a aggregate) string { return a.fromRaw + " AS " + a.column })
		}
		sources = append(sources, `SELECT `+cols+`
FROM ${db}.`+table+` FINAL
PREWHERE check_id = {check_id:String} AND ({location:String} = '' OR location = {location:String})
  AND ((`+strings.Join(ranges[table], ") OR (")+`))`)
	}
	return `SELECT ` + finalAggregates + `
FROM (
` + strings.Join(sources, "\nUNION ALL\n") + `
)`, p
}

// finalAggregates turn rollup rows into the columns of RollupStats. No alias
// is the name of a column another expression reads: ClickHouse would resolve
// that column to the alias.
var finalAggregates = func() string {
	// The sketches hold nanoseconds; an empty one answers nan.
	ms := func(q string) string {
		return "arrayMap(x -> ifNotFinite(x / 1e6, 0), quantilesDDMerge" + ddsketch + "(" + q + "))"
	}
	each := func(format string) string {
		out := make([]string, len(phaseNames))
		for i, p := range phaseNames {
			out[i] = strings.ReplaceAll(format, "%", p)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	return `sum(runs) AS runs, sum(successes) AS successes,
  sum(duration_sum) AS duration_sum, max(duration_max) AS duration_max,
  sum(ttfb_sum) AS ttfb_sum, max(ttfb_max) AS ttfb_max,
  sumMap(status_counts) AS status_counts, sumMap(class_counts) AS class_counts,
  sum(detail_runs) AS detail_runs,
  ` + ms("duration_ns_q") + ` AS duration_q,
  ` + each("sum(%_runs)") + ` AS phase_counts,
  ` + each("sum(%_sum)") + ` AS phase_sums,
  ` + each("max(%_max)") + ` AS phase_maxes,
  ` + each(ms("%_ns_q")) + ` AS phase_q`
}()

// summary derives the Stats figures from the sums.
func (r RollupStats) summary() Stats {
	st := Stats{
		Samples: r.Runs, Successes: r.Successes, MaxResponseMS: r.DurationMax, MaxTTFBMS: r.TTFBMax,
		Response:    percentiles(r.Quantiles, r.DurationMax),
		StatusCodes: map[string]uint64{}, FailureClasses: map[string]uint64{}, DetailSamples: r.DetailRuns,
	}
	if r.Runs > 0 {
		st.Availability = float64(r.Successes) / float64(r.Runs)
		st.AvgResponseMS, st.AvgTTFBMS = r.DurationSum/float64(r.Runs), r.TTFBSum/float64(r.Runs)
	}
	for code, n := range r.Statuses {
		if n > 0 {
			st.StatusCodes[strconv.Itoa(int(code))] = n
		}
	}
	st.Skipped = r.Classes[OverloadClass]
	for class, n := range r.Classes {
		if class != "" && class != OverloadClass && n > 0 {
			st.FailureClasses[class] = n
		}
	}
	shares := []*float64{&st.AvgDNSMS, &st.AvgConnectMS, &st.AvgTLSMS, &st.AvgProcessingMS, &st.AvgTransferMS}
	timings := []*Timing{&st.Phases.DNS, &st.Phases.Connect, &st.Phases.TLS, &st.Phases.Processing, &st.Phases.Transfer}
	for i := range phaseNames {
		if i >= len(r.PhaseCounts) || i >= len(r.PhaseSums) || i >= len(r.PhaseMaxes) {
			break
		}
		if r.DetailRuns > 0 {
			*shares[i] = r.PhaseSums[i] / float64(r.DetailRuns)
		}
		t := timings[i]
		t.Runs, t.MaxMS = r.PhaseCounts[i], r.PhaseMaxes[i]
		if t.Runs > 0 {
			t.AvgMS = r.PhaseSums[i] / float64(t.Runs)
		}
		if i < len(r.PhaseQuantiles) {
			t.Percentiles = percentiles(r.PhaseQuantiles[i], t.MaxMS)
		}
	}
	return st
}

// percentiles are the sketch's estimates, capped at the exact maximum: no
// percentile exceeds it, and the sketch may overshoot it by up to 1 %.
func percentiles(q []float64, ceiling float64) Percentiles {
	if len(q) != 4 {
		return Percentiles{}
	}
	for i := range q {
		if ceiling > 0 && q[i] > ceiling {
			q[i] = ceiling
		}
	}
	return Percentiles{P50: q[0], P90: q[1], P95: q[2], P99: q[3]}
}
