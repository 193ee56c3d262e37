package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Budgeting is how an SLO counts good and bad events.
type Budgeting string

const (
	// Occurrences counts results: a run that measured the target is good
	// when it succeeded and bad otherwise; a run the prober skipped for its
	// own overload (OverloadClass) is neither.
	Occurrences Budgeting = "occurrences"
	// Timeslices counts slices of time (epoch-aligned, a whole number of
	// minutes) per check: a slice is good when at least one location had a
	// successful run in it, bad when runs measured the target in it and none
	// succeeded, and neither when it holds no measured run. Over a set of
	// checks (SLOResult.Total) each slice counts once: bad when any check
	// measured in it was bad (no location of it succeeded), good when every
	// check measured in it was good, neither when no check was measured.
	Timeslices Budgeting = "timeslices"
)

// BurnWindows are the windows, each ending at the query's now, over which
// SLOCounts also counts: the SRE workbook's multi-window burn-rate pairs
// (5m/1h, 30m/6h, 6h/3d).
var BurnWindows = [...]time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour, 72 * time.Hour}

// MaxSLOWindow is the longest SLO window: the minute rollups' retention
// (90 days), which time slices are counted from and which the edges of
// an occurrence window are read from.
const MaxSLOWindow = 90 * 24 * time.Hour

// SLOQuery selects what SLOCounts counts.
type SLOQuery struct {
	Checks    []string
	Budgeting Budgeting
	// Slice is a time slice's length: whole minutes, at most 5m (the
	// shortest burn window). Only for Timeslices.
	Slice time.Duration
	// Window is the SLO's window, ending at Now.
	Window time.Duration
	Now    time.Time
}

// SLOEvents are the good and bad events (results or slices) in a window.
type SLOEvents struct {
	Good, Bad uint64
}

// SLOCounts are one check's events over an SLO's window and over each of
// the BurnWindows, in their order.
type SLOCounts struct {
	CheckID string
	Window  SLOEvents
	Burn    [len(BurnWindows)]SLOEvents
}

// SLOResult are the counts of an SLO query: each check's, and over the set.
type SLOResult struct {
	// Total counts the SLO's events over all its checks (CheckID empty): by
	// occurrences the sum of every check's results; by time slices each
	// slice once (see Timeslices), so a minute two checks were down in is
	// one bad minute, not two.
	Total SLOCounts
	// Checks are the checks with any event, by check id.
	Checks []SLOCounts
}

// SLOSpan is the part of time an SLO query counts: [From, To). For
// occurrences it is the window itself; for time slices it starts at the
// first slice starting at or after Now − Window and ends with the slice
// holding Now (which counts the results so far).
func (q SLOQuery) SLOSpan(window time.Duration) (from, to time.Time) {
	if q.Budgeting == Timeslices {
		return sliceCeil(q.Now.Add(-window), q.Slice), sliceFloor(q.Now, q.Slice).Add(q.Slice)
	}
	return ceilMilli(q.Now.Add(-window)), ceilMilli(q.Now)
}

// windows are the SLO window and the burn windows, in SLOCounts' order.
func (q SLOQuery) windows() []time.Duration {
	return append([]time.Duration{q.Window}, BurnWindows[:]...)
}

func (q SLOQuery) validate() error {
	switch {
	case q.Budgeting != Occurrences && q.Budgeting != Timeslices:
		return fmt.Errorf("slo budgeting %q: want occurrences or timeslices", q.Budgeting)
	case q.Window <= 0 || q.Window > MaxSLOWindow:
		return fmt.Errorf("slo window %s: want more than 0 and at most %s", q.Window, MaxSLOWindow)
	case q.Budgeting == Timeslices && (q.Slice < time.Minute || q.Slice > 5*time.Minute || q.Slice%time.Minute != 0):
		return fmt.Errorf("slo slice %s: want whole minutes from 1m to 5m", q.Slice)
	}
	return nil
}

// SLOCounts counts the good and bad events of q's checks over its window and
// the BurnWindows, from the rollups: one row per check with any event, by
// check id, and the total over the set. Occurrences read each window's whole days, hours and minutes from
// the rollups (only their run and success counts, never a sketch) and the
// sub-minute edges from the raw rows; time slices read the minute rollups,
// whose per-location rows tell for each minute whether any location
// succeeded. Both equal what the raw rows count (SLOCountsFromRaw).
func (s *Store) SLOCounts(ctx context.Context, q SLOQuery) (SLOResult, error) {
	return s.sloCounts(ctx, q, false)
}

// SLOCountsFromRaw is SLOCounts computed from the raw rows only: what it
// must equal, and what it is measured against.
func (s *Store) SLOCountsFromRaw(ctx context.Context, q SLOQuery) (SLOResult, error) {
	return s.sloCounts(ctx, q, true)
}

func (s *Store) sloCounts(ctx context.Context, q SLOQuery, raw bool) (SLOResult, error) {
	if err := q.validate(); err != nil {
		return SLOResult{}, err
	}
	if len(q.Checks) == 0 {
		return SLOResult{}, nil
	}
	var query string
	var p Params
	if q.Budgeting == Timeslices {
		query, p = sliceQuery(q, raw)
	} else {
		query, p = occurrenceQuery(q, raw)
	}
	p["checks"] = ArrayParam(q.Checks)
	var rows []sloRow
	if err := s.b.Select(ctx, &rows, s.sql(query), p); err != nil {
		return SLOResult{}, fmt.Errorf("slo counts of %d checks: %w", len(q.Checks), err)
	}
	var out SLOResult
	for _, r := range rows {
		if len(r.Good) != len(BurnWindows)+1 || len(r.Bad) != len(r.Good) {
			return SLOResult{}, fmt.Errorf("slo counts of %s: %d/%d windows", r.CheckID, len(r.Good), len(r.Bad))
		}
		c := SLOCounts{CheckID: r.CheckID, Window: SLOEvents{Good: r.Good[0], Bad: r.Bad[0]}}
		for w := range BurnWindows {
			c.Burn[w] = SLOEvents{Good: r.Good[w+1], Bad: r.Bad[w+1]}
		}
		if r.CheckID == "" { // the time slices' total over the set
			out.Total = c
			continue
		}
		out.Checks = append(out.Checks, c)
		if q.Budgeting == Occurrences || len(q.Checks) == 1 {
			out.Total.add(c)
		}
	}
	return out, nil
}

func (c *SLOCounts) add(o SLOCounts) {
	c.Window.Good += o.Window.Good
	c.Window.Bad += o.Window.Bad
	for w := range c.Burn {
		c.Burn[w].Good += o.Burn[w].Good
		c.Burn[w].Bad += o.Burn[w].Bad
	}
}

type sloRow struct {
	CheckID string   `ch:"check_id"`
	Good    []uint64 `ch:"good"`
	Bad     []uint64 `ch:"bad"`
}

// occurrenceQuery reads each table once: per table, every window's parts on
// it become one condition, and conditional sums count each window; the
// outer query adds the tables up. Only the run and success columns are
// read: whole days and hours from their rollups, whole minutes only where the
// raw rows may be gone (see plan.countsOnly).
func occurrenceQuery(q SLOQuery, raw bool) (string, Params) {
	windows := q.windows()
	p := Params{}
	parts := make([][]part, len(windows))
	for w, d := range windows {
		from, to := q.SLOSpan(d)
		parts[w] = []part{{from: from, to: to}}
		if !raw {
			parts[w] = plan{rawFrom: q.Now.Add(-rawRetention), countsOnly: true, fresh: q.Now.Add(-freshMargin)}.split(from, to)
		}
	}
	var sources []string
	for _, tw := range windowConditions(parts, p) {
		table := tw.table
		var runs, goods []string
		for _, in := range tw.in {
			if table == "check_results" {
				runs = append(runs, "countIf("+measured+" AND "+in+")")
				goods = append(goods, "countIf(success AND "+measured+" AND "+in+")")
			} else {
				runs = append(runs, "sumIf(runs, "+in+")")
				goods = append(goods, "sumIf(successes, "+in+")")
			}
		}
		sources = append(sources, `SELECT check_id, [`+strings.Join(runs, ", ")+`] AS r, [`+strings.Join(goods, ", ")+`] AS g
FROM ${db}.`+table+` FINAL
PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)})) AND (`+strings.Join(tw.any, " OR ")+`)
GROUP BY check_id`)
	}
	return `SELECT toString(check_id) AS check_id, sumForEach(g) AS good,
  arrayMap((a, b) -> a - b, sumForEach(r), sumForEach(g)) AS bad
FROM (
` + strings.Join(sources, "\nUNION ALL\n") + `
)
GROUP BY check_id
HAVING arraySum(sumForEach(r)) > 0
ORDER BY check_id`, p
}

// sliceQuery adds up each check's runs and successes per slice (over every
// location), from the minute rollups or the raw rows, and counts per window
// the slices with a success (good) and those with runs but none (bad), per
// check and, in the row with an empty check id, over the set: per slice, the
// measured checks' verdicts are gathered with one more, the set's (good
// only when every one is), and spread out again to be counted. Over three
// checks' 30 days this costs 1.37× the per-check counts alone (GROUPING
// SETS ((check_id, slice), (slice)) measured 1.52×); one check skips it.
func sliceQuery(q SLOQuery, raw bool) (string, Params) {
	windows := q.windows()
	longest := windows[0]
	for _, d := range windows {
		longest = max(longest, d)
	}
	from, to := q.SLOSpan(longest)
	p := Params{"from": TimeParam(from), "to": TimeParam(to)}
	var good, bad []string
	for w, d := range windows {
		start, _ := q.SLOSpan(d)
		name := "start" + strconv.Itoa(w)
		p[name] = TimeParam(start)
		in := "slice >= {" + name + ":DateTime64(3, 'UTC')}"
		good = append(good, "countIf(ok AND "+in+")")
		bad = append(bad, "countIf(NOT ok AND "+in+")")
	}
	secs := strconv.FormatInt(int64(q.Slice/time.Second), 10)
	source := `SELECT check_id, toDateTime(intDiv(toUInt32(bucket), ` + secs + `) * ` + secs + `, 'UTC') AS slice,
    sum(runs) AS runs, sum(successes) AS successes
  FROM ${db}.check_rollup_1m FINAL
  PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
    AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}
  GROUP BY check_id, slice`
	if raw {
		source = `SELECT check_id, toDateTime(intDiv(toUInt32(toDateTime(scheduled_at)), ` + secs + `) * ` + secs + `, 'UTC') AS slice,
    countIf(` + measured + `) AS runs, countIf(success AND ` + measured + `) AS successes
  FROM ${db}.check_results FINAL
  PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
    AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
  GROUP BY check_id, slice`
	}
	if len(q.Checks) == 1 {
		// One check: the set's slices are its own (sloCounts copies them),
		// without gathering each slice's verdicts.
		return `SELECT toString(check_id) AS check_id, [` + strings.Join(good, ", ") + `] AS good,
  [` + strings.Join(bad, ", ") + `] AS bad
FROM (
  SELECT check_id, slice, successes > 0 AS ok FROM (
  ` + source + `
  )
  WHERE runs > 0
)
GROUP BY check_id
ORDER BY check_id`, p
	}
	return `SELECT check_id, [` + strings.Join(good, ", ") + `] AS good,
  [` + strings.Join(bad, ", ") + `] AS bad
FROM (
  SELECT v.1 AS check_id, v.2 AS ok, slice
  FROM (
    SELECT slice, arrayPushBack(groupArray((toString(check_id), successes > 0)), ('', min(successes > 0))) AS verdicts
    FROM (
  ` + source + `
    )
    WHERE runs > 0
    GROUP BY slice
  )
  ARRAY JOIN verdicts AS v
)
GROUP BY check_id
ORDER BY check_id`, p
}

func sliceFloor(t time.Time, slice time.Duration) time.Time {
	s := int64(slice / time.Millisecond)
	ms := t.UnixMilli()
	f := ms - ms%s
	if ms < 0 && ms%s != 0 {
		f -= s
	}
	return time.UnixMilli(f).UTC()
}

func sliceCeil(t time.Time, slice time.Duration) time.Time {
	if f := sliceFloor(t, slice); f.Before(t) {
		return f.Add(slice)
	}
	return t.UTC()
}
