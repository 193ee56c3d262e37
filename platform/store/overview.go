package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The overview's windows, each ending at the query's now.
const (
	OverviewShort  = 10 * time.Minute
	OverviewDay    = 24 * time.Hour
	OverviewMonth  = 30 * 24 * time.Hour
	overviewWindow = 3
)

// overviewWindows are the windows in the order of OverviewFigures' columns;
// the percentiles and averages are over the second (24 h).
var overviewWindows = [overviewWindow]time.Duration{OverviewShort, OverviewDay, OverviewMonth}

// OverviewFigures are one check's headline figures: runs and successes over
// the last 10 minutes, 24 hours and 30 days (every location), and its
// response time over the 24 hours. Like Stats, the runs the prober skipped
// for its own overload count nowhere.
type OverviewFigures struct {
	CheckID      string `ch:"check_id"`
	Runs10m      uint64 `ch:"runs_0"`
	Successes10m uint64 `ch:"successes_0"`
	Runs24h      uint64 `ch:"runs_1"`
	Successes24h uint64 `ch:"successes_1"`
	Runs30d      uint64 `ch:"runs_2"`
	Successes30d uint64 `ch:"successes_2"`
	// DurationSum24h and DurationMax24h are in milliseconds; Quantiles24h are
	// the response time's p50, p90, p95, p99 over the 24 hours (see
	// Percentiles), over DetailRuns24h runs.
	DurationSum24h float64   `ch:"duration_sum"`
	DurationMax24h float64   `ch:"duration_max"`
	DetailRuns24h  uint64    `ch:"detail_runs"`
	Quantiles24h   []float64 `ch:"q"`
}

// Percentiles24h are the response time's percentiles over the 24 hours.
func (f OverviewFigures) Percentiles24h() Percentiles {
	return percentiles(append([]float64(nil), f.Quantiles24h...), f.DurationMax24h)
}

// Overview computes the figures of checks (at least one) for the windows
// ending at now, in one query: each window is split like WindowStats' (whole
// days, hours and minutes from the rollups, the sub-minute edges from the raw
// rows), and every table is read once for all windows and checks. Checks
// without a run in 30 days are left out.
//
// interval is the shortest probing interval among checks (0: unknown). As in
// WindowStats, hours and minutes are read from their rollups only where the
// raw rows would be more (see plan): a rollup row's sketches cost far more to
// decode than a raw row, and a query touching every check touches every
// granule of a rollup table. The sketch is read only where the 24 hours are.
//
// What it reads raw it reads from check_results_by_time (migration 0016), the
// raw rows' overview columns ordered by time: check_results is ordered by
// check, so the last day of every check is spread over all of it. That
// table keeps 31 days, so the oldest edge of the 30 days is read raw too
// (from check_results it would be past their TTL, and read from the minute
// rollups, another scan of a check-ordered table).
func (s *Store) Overview(ctx context.Context, checks []string, now time.Time, interval time.Duration) ([]OverviewFigures, error) {
	p := plan{interval: interval, rawFrom: now.Add(-byTimeRetention), fresh: now.Add(-freshMargin)}
	var windows [overviewWindow][]part
	to := ceilMilli(now)
	for i, w := range overviewWindows {
		windows[i] = p.split(ceilMilli(now.Add(-w)), to)
	}
	return s.overview(ctx, checks, windows, byTimeTable)
}

const (
	// byTimeTable holds check_results' columns the overview reads, ordered
	// by time (migration 0016).
	byTimeTable = "check_results_by_time"
	// byTimeRetention is how long byTimeTable surely keeps a row: its TTL,
	// 31 days, less an hour for clocks that disagree.
	byTimeRetention = 31*24*time.Hour - time.Hour
)

// OverviewFromRaw computes Overview's answer from the raw rows only: what it
// must equal (but for the percentiles' 1 %), and what it is measured against.
func (s *Store) OverviewFromRaw(ctx context.Context, checks []string, now time.Time) ([]OverviewFigures, error) {
	var windows [overviewWindow][]part
	to := ceilMilli(now)
	for i, w := range overviewWindows {
		windows[i] = []part{{from: ceilMilli(now.Add(-w)), to: to}}
	}
	return s.overview(ctx, checks, windows, "check_results")
}

// overview reads the figures of windows, their raw parts from the table raw.
func (s *Store) overview(ctx context.Context, checks []string, windows [overviewWindow][]part, raw string) ([]OverviewFigures, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	query, p := overviewQuery(windows, raw)
	p["checks"] = ArrayParam(checks)
	var out []OverviewFigures
	if err := s.b.Select(ctx, &out, s.sql(query), p); err != nil {
		return nil, fmt.Errorf("overview of %d checks: %w", len(checks), err)
	}
	return out, nil
}

// overviewQuery reads each table once: per table, every window's ranges on
// it become one condition, the rows of any window are read, and conditional
// aggregates add each window up; the outer query adds the tables up. The
// raw parts are read from rawTable (check_results or byTimeTable).
func overviewQuery(windows [overviewWindow][]part, rawTable string) (string, Params) {
	p := Params{}
	var sources []string
	for _, tw := range windowConditions(windows[:], p) {
		table, in := tw.table, tw.in
		var cols []string
		raw := table == "check_results"
		if raw {
			table = rawTable
		}
		for w := range in {
			if raw {
				cols = append(cols,
					fmt.Sprintf("countIf(%s AND %s) AS r_%d", measured, in[w], w),
					fmt.Sprintf("countIf(success AND %s AND %s) AS s_%d", measured, in[w], w))
			} else {
				cols = append(cols,
					fmt.Sprintf("sumIf(runs, %s) AS r_%d", in[w], w),
					fmt.Sprintf("sumIf(successes, %s) AS s_%d", in[w], w))
			}
		}
		day := in[1]
		switch {
		case day == "0": // no sketch to read from this table
			cols = append(cols, "toFloat64(0) AS d_sum", "toFloat64(0) AS d_max", "toUInt64(0) AS d_runs",
				"arrayReduce('quantilesDDState"+ddsketch+"', emptyArrayFloat64()) AS d_q")
		case raw:
			cols = append(cols,
				"sumIf(duration_ms, "+measured+" AND "+day+") AS d_sum",
				"maxIf(duration_ms, "+measured+" AND "+day+") AS d_max",
				"countIf("+measured+" AND "+day+") AS d_runs",
				"quantilesDDStateIf"+ddsketch+"(duration_ms * 1e6, "+measured+" AND "+day+") AS d_q")
		default:
			cols = append(cols,
				"sumIf(duration_sum, "+day+") AS d_sum",
				"maxIf(duration_max, "+day+") AS d_max",
				"sumIf(detail_runs, "+day+") AS d_runs",
				"quantilesDDMergeStateIf"+ddsketch+"(duration_ns_q, "+day+") AS d_q")
		}
		// check_id IN a set, not has(array, check_id): has compares every
		// row with every element of the page's up to 1,000 ids.
		sources = append(sources, `SELECT check_id, `+strings.Join(cols, ",\n  ")+`
FROM ${db}.`+table+` FINAL
PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)})) AND (`+strings.Join(tw.any, " OR ")+`)
GROUP BY check_id`)
	}
	var outer []string
	for w := range overviewWindow {
		outer = append(outer, fmt.Sprintf("sum(r_%[1]d) AS runs_%[1]d, sum(s_%[1]d) AS successes_%[1]d", w))
	}
	return `SELECT toString(check_id) AS check_id, ` + strings.Join(outer, ", ") + `,
  sum(d_sum) AS duration_sum, max(d_max) AS duration_max, sum(d_runs) AS detail_runs,
  arrayMap(x -> ifNotFinite(x / 1e6, 0), quantilesDDMerge` + ddsketch + `(d_q)) AS q
FROM (
` + strings.Join(sources, "\nUNION ALL\n") + `
)
GROUP BY check_id
HAVING runs_2 > 0 OR runs_1 > 0 OR runs_0 > 0
ORDER BY check_id`, p
}

// tableWindows is what one table contributes to a query over several
// windows: for each window the condition selecting its parts on the table
// ("0" when it has none), and those conditions of the windows that have.
type tableWindows struct {
	table string
	in    []string
	any   []string
}

// windowConditions groups the parts of each window by the table they read,
// tables in the order first met, adding each part's bounds to p, so that a
// query reads each table once for every window (overview, SLOs).
func windowConditions(windows [][]part, p Params) []tableWindows {
	conds := map[string][][]string{}
	var tables []string
	n := 0
	for w, parts := range windows {
		for _, pt := range parts {
			table, col := "check_results", "scheduled_at"
			if pt.res != nil {
				table, col = pt.res.table, "bucket"
			}
			if conds[table] == nil {
				conds[table] = make([][]string, len(windows))
				tables = append(tables, table)
			}
			f, t := "from"+strconv.Itoa(n), "to"+strconv.Itoa(n)
			n++
			p[f], p[t] = TimeParam(pt.from), TimeParam(pt.to)
			conds[table][w] = append(conds[table][w],
				fmt.Sprintf("(%[1]s >= {%[2]s:DateTime64(3, 'UTC')} AND %[1]s < {%[3]s:DateTime64(3, 'UTC')})", col, f, t))
		}
	}
	out := make([]tableWindows, len(tables))
	for i, table := range tables {
		tw := tableWindows{table: table, in: make([]string, len(windows))}
		for w := range windows {
			tw.in[w] = "0"
			if c := conds[table][w]; len(c) > 0 {
				tw.in[w] = "(" + strings.Join(c, " OR ") + ")"
				tw.any = append(tw.any, tw.in[w])
			}
		}
		out[i] = tw
	}
	return out
}
