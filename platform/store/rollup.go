package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Resolution is a rollup's bucket size.
type Resolution struct {
	table, start string
	size         time.Duration
}

// The rollup resolutions, finest first.
var (
	Minute = Resolution{table: "check_rollup_1m", start: "toStartOfMinute", size: time.Minute}
	Hour   = Resolution{table: "check_rollup_1h", start: "toStartOfHour", size: time.Hour}
	Day    = Resolution{table: "check_rollup_1d", start: "toStartOfDay", size: 24 * time.Hour}
)

// truncate is the start of t's bucket (UTC).
func (r Resolution) truncate(t time.Time) time.Time { return t.UTC().Truncate(r.size) }

// ceil is the start of the first bucket that starts at or after t.
func (r Resolution) ceil(t time.Time) time.Time {
	if b := r.truncate(t); b.Before(t) {
		return b.Add(r.size)
	}
	return r.truncate(t)
}

// The phases of a run, in the order of every per-phase slice here. A phase's
// raw column is <name>_ms; its rollup columns are <name>_runs, _sum, _max and
// _ns_q (migration 0009).
var phaseNames = [...]string{"dns", "connect", "tls", "processing", "transfer"}

// ddsketch is the parameters of every percentile sketch: 1 % relative
// accuracy, then the levels p50, p90, p95, p99.
const ddsketch = "(0.01, 0.5, 0.9, 0.95, 0.99)"

// aggregate is one stored column of a rollup row: what it is over raw rows,
// and how rows of a finer rollup merge into it.
type aggregate struct {
	column, fromRaw, merge string
	// unread is a column still written for whoever else reads the tables
	// but superseded in this package (duration_q by duration_ns_q).
	unread bool
}

// OverloadClass is the failure class of a run the prober skipped because it
// was overloaded (more runs due than it could start on time). Such a run says
// nothing about the target: it is left out of every figure of a rollup but
// the class counts, where it shows as Stats.Skipped.
const OverloadClass = "FAILURE_CLASS_OVERLOAD"

// measured is true for a raw row that measured the target.
const measured = "failure_class != '" + OverloadClass + "'"

// aggregates are the rollup tables' stored columns. The sketches the stats
// read hold nanoseconds (see migration 0009: ClickHouse's DDSketch is one
// bucket off below 1). Every figure over raw rows but class_counts counts
// only the measured runs.
var aggregates = func() []aggregate {
	a := []aggregate{
		{column: "runs", fromRaw: "countIf(" + measured + ")", merge: "sum(runs)"},
		{column: "successes", fromRaw: "countIf(success AND " + measured + ")", merge: "sum(successes)"},
		{column: "duration_sum", fromRaw: "sumIf(duration_ms, " + measured + ")", merge: "sum(duration_sum)"},
		{column: "duration_max", fromRaw: "maxIf(duration_ms, " + measured + ")", merge: "max(duration_max)"},
		{column: "ttfb_sum", fromRaw: "sumIf(ttfb_ms, " + measured + ")", merge: "sum(ttfb_sum)"},
		{column: "ttfb_max", fromRaw: "maxIf(ttfb_ms, " + measured + ")", merge: "max(ttfb_max)"},
		{column: "duration_q", fromRaw: "quantilesDDStateIf" + ddsketch + "(duration_ms, " + measured + ")",
			merge: "quantilesDDMergeState" + ddsketch + "(duration_q)", unread: true},
		{column: "status_counts", fromRaw: "sumMapIf(map(http_status, toUInt64(1)), " + measured + ")", merge: "sumMap(status_counts)"},
		// Every run, skipped ones too: the only place they are counted.
		{column: "class_counts", fromRaw: "sumMap(map(toString(failure_class), toUInt64(1)))", merge: "sumMap(class_counts)"},
		{column: "detail_runs", fromRaw: "countIf(" + measured + ")", merge: "sum(detail_runs)"},
		{column: "duration_ns_q", fromRaw: "quantilesDDStateIf" + ddsketch + "(duration_ms * 1e6, " + measured + ")",
			merge: "quantilesDDMergeState" + ddsketch + "(duration_ns_q)"},
	}
	// A phase that did not happen is 0: it adds nothing to the sum or the
	// maximum, and is kept out of the count and the sketch.
	for _, p := range phaseNames {
		happened := p + "_ms > 0 AND " + measured
		a = append(a,
			aggregate{column: p + "_runs", fromRaw: "countIf(" + happened + ")", merge: "sum(" + p + "_runs)"},
			aggregate{column: p + "_sum", fromRaw: "sumIf(" + p + "_ms, " + measured + ")", merge: "sum(" + p + "_sum)"},
			aggregate{column: p + "_max", fromRaw: "maxIf(" + p + "_ms, " + measured + ")", merge: "max(" + p + "_max)"},
			aggregate{column: p + "_ns_q", fromRaw: "quantilesDDStateIf" + ddsketch + "(" + p + "_ms * 1e6, " + happened + ")",
				merge: "quantilesDDMergeState" + ddsketch + "(" + p + "_ns_q)"})
	}
	return a
}()

// aggregateList joins one expression per aggregate, in aggregates order,
// leaving out the unread ones unless all.
func aggregateList(all bool, expr func(aggregate) string) string {
	var out []string
	for _, a := range aggregates {
		if all || !a.unread {
			out = append(out, expr(a))
		}
	}
	return strings.Join(out, ",\n  ")
}

// Rebuilds select their checks with IN, in chunks (idChunks), which the primary key (check_id
// first) narrows to the checks' granules; has() on the same array is not
// used by the index and reads the whole table, FINAL (measured: 1.8 s
// against 0.07 s for 1,000 of 10,000 checks in 660,000 raw rows).
//
// rollupSettings end every rebuild: one thread, a low query priority and
// nice 19, so that a rebuild (off the alert path, of up to every check's
// buckets at once) yields the server's cores to the inserts and reads that
// someone waits for (the results insert an alert waits on above all).
const rollupSettings = "\nSETTINGS max_threads = 1, max_insert_threads = 1, priority = 10, os_thread_priority = 19"

// rollupInsert is the INSERT prefix of a rebuild of table, whose SELECT
// lists check_id, location, the bucket, the aggregates and the version.
func rollupInsert(table string) string {
	return "INSERT INTO ${db}." + table + " (check_id, location, bucket,\n  " +
		aggregateList(true, func(a aggregate) string { return a.column }) + ",\n  version)\n"
}

// RebuildRollups recomputes the minute, hour and day rollups of checks for
// the buckets overlapping [from, to]: minutes from the deduplicated raw rows,
// hours from the minutes, days from the hours. Running it twice, or after a
// replay, gives the same rollups.
func (s *Store) RebuildRollups(ctx context.Context, checks []string, from, to time.Time) error {
	if err := s.RebuildMinutes(ctx, checks, from, to); err != nil {
		return err
	}
	return s.RebuildHoursAndDays(ctx, checks, from, to)
}

// RebuildHoursAndDays recomputes the hour rollups of checks for the hours
// overlapping [from, to] from the minute rollups, then the day rollups from
// the hours: the second half of RebuildRollups, for a caller that rebuilds
// the minutes more often than the coarser buckets.
func (s *Store) RebuildHoursAndDays(ctx context.Context, checks []string, from, to time.Time) error {
	for _, step := range []struct{ fine, coarse Resolution }{{Minute, Hour}, {Hour, Day}} {
		if err := s.rebuildFrom(ctx, step.fine, step.coarse, checks, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) rebuildFrom(ctx context.Context, fine, coarse Resolution, checks []string, from, to time.Time) error {
	if len(checks) == 0 {
		return nil
	}
	from, to = coarse.truncate(from), coarse.truncate(to).Add(coarse.size)
	for part := range idChunks(checks) {
		if err := s.rebuildChunk(ctx, fine, coarse, part, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) rebuildChunk(ctx context.Context, fine, coarse Resolution, checks []string, from, to time.Time) error {
	err := s.b.Exec(ctx, s.sql(rollupInsert(coarse.table)+`SELECT check_id, location, `+coarse.start+`(bucket) AS b,
  `+aggregateList(true, func(a aggregate) string { return a.merge })+`,
  now64(3)
FROM ${db}.`+fine.table+` FINAL
WHERE check_id IN {checks:Array(String)}
  AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, location, b`+rollupSettings), Params{"checks": ArrayParam(checks), "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", coarse.table, err)
	}
	return nil
}

// RebuildMinutes recomputes the minute rollups of checks for the minutes
// overlapping [from, to] from the deduplicated raw rows.
func (s *Store) RebuildMinutes(ctx context.Context, checks []string, from, to time.Time) error {
	if len(checks) == 0 {
		return nil
	}
	from = Minute.truncate(from)
	to = Minute.truncate(to).Add(time.Minute)
	for part := range idChunks(checks) {
		if err := s.rebuildMinuteChunk(ctx, part, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) rebuildMinuteChunk(ctx context.Context, checks []string, from, to time.Time) error {
	err := s.b.Exec(ctx, s.sql(rollupInsert(Minute.table)+`SELECT check_id, location, toStartOfMinute(scheduled_at) AS bucket,
  `+aggregateList(true, func(a aggregate) string { return a.fromRaw })+`,
  now64(3)
FROM ${db}.check_results FINAL
WHERE check_id IN {checks:Array(String)}
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, location, bucket`+rollupSettings), Params{"checks": ArrayParam(checks), "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return fmt.Errorf("rebuild minute rollups: %w", err)
	}
	return nil
}

// RollupStats are what rollup buckets (or raw rows) add up to: the sums,
// maxima, counts and merged sketches every figure of Stats derives from.
type RollupStats struct {
	Runs        uint64            `ch:"runs"`
	Successes   uint64            `ch:"successes"`
	DurationSum float64           `ch:"duration_sum"`
	DurationMax float64           `ch:"duration_max"`
	TTFBSum     float64           `ch:"ttfb_sum"`
	TTFBMax     float64           `ch:"ttfb_max"`
	Statuses    map[uint16]uint64 `ch:"status_counts"`
	// Classes count every run by failure class, "" the successes and
	// OverloadClass the skipped runs, which no other figure counts.
	Classes map[string]uint64 `ch:"class_counts"`
	// DetailRuns counts the runs that Quantiles and the phase figures cover:
	// all of them, except runs in buckets rolled up before migration 0009.
	DetailRuns uint64 `ch:"detail_runs"`
	// Quantiles are the response time's p50, p90, p95, p99.
	Quantiles []float64 `ch:"duration_q"`
	// Per phase, in the order dns, connect, tls, processing, transfer: the
	// runs in which it happened (its time > 0), the sum and maximum of its
	// time, and its p50, p90, p95, p99 over the runs in which it happened.
	PhaseCounts    []uint64    `ch:"phase_counts"`
	PhaseSums      []float64   `ch:"phase_sums"`
	PhaseMaxes     []float64   `ch:"phase_maxes"`
	PhaseQuantiles [][]float64 `ch:"phase_q"`
}

// MinuteStats merges the minute rollups of checkID over [from, to), which
// must be whole minutes.
func (s *Store) MinuteStats(ctx context.Context, checkID string, from, to time.Time) (RollupStats, error) {
	return s.RollupStats(ctx, Minute, checkID, from, to)
}

// RollupStats merges the rollups of resolution r of checkID, every location,
// over [from, to), which must be whole buckets.
func (s *Store) RollupStats(ctx context.Context, r Resolution, checkID string, from, to time.Time) (RollupStats, error) {
	if !from.Equal(r.truncate(from)) || !to.Equal(r.truncate(to)) {
		return RollupStats{}, fmt.Errorf("%s stats: %s..%s is not whole buckets", r.table, from, to)
	}
	st, err := s.merge(ctx, checkID, "", []part{{res: &r, from: from, to: to}})
	if err != nil {
		return RollupStats{}, fmt.Errorf("%s stats of %s: %w", r.table, checkID, err)
	}
	return st, nil
}
