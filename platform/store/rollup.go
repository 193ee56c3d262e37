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

// RebuildRollups recomputes the minute, hour and day rollups of checks for
// the buckets overlapping [from, to]: minutes from the deduplicated raw rows,
// hours from the minutes, days from the hours. Running it twice, or after a
// replay, gives the same rollups.
func (s *Store) RebuildRollups(ctx context.Context, checks []string, from, to time.Time) error {
	if err := s.RebuildMinutes(ctx, checks, from, to); err != nil {
		return err
	}
	for _, step := range []struct{ fine, coarse Resolution }{{Minute, Hour}, {Hour, Day}} {
		if err := s.rebuildFrom(ctx, step.fine, step.coarse, checks, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) rebuildFrom(ctx context.Context, fine, coarse Resolution, checks []string, from, to time.Time) error {
	from, to = coarse.truncate(from), coarse.truncate(to).Add(coarse.size)
	err := s.b.Exec(ctx, s.sql(`INSERT INTO ${db}.`+coarse.table+`
SELECT check_id, location, `+coarse.start+`(bucket) AS b,
  sum(runs), sum(successes), sum(duration_sum), max(duration_max), sum(ttfb_sum), max(ttfb_max),
  quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(duration_q),
  sumMap(status_counts), sumMap(class_counts), now64(3)
FROM ${db}.`+fine.table+` FINAL
WHERE has({checks:Array(String)}, check_id)
  AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, location, b`), Params{"checks": arrayParam(checks), "from": TimeParam(from), "to": TimeParam(to)})
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
	err := s.b.Exec(ctx, s.sql(`INSERT INTO ${db}.check_rollup_1m
SELECT check_id, location, toStartOfMinute(scheduled_at) AS bucket,
  count(), countIf(success),
  sum(duration_ms), max(duration_ms), sum(ttfb_ms), max(ttfb_ms),
  quantilesDDState(0.01, 0.5, 0.9, 0.95, 0.99)(duration_ms),
  sumMap(map(http_status, toUInt64(1))),
  sumMap(map(failure_class, toUInt64(1))),
  now64(3)
FROM ${db}.check_results FINAL
WHERE has({checks:Array(String)}, check_id)
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, location, bucket`), Params{"checks": arrayParam(checks), "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return fmt.Errorf("rebuild minute rollups: %w", err)
	}
	return nil
}

// arrayParam is the text form of an Array(String) parameter.
func arrayParam(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	return "[" + strings.Join(q, ",") + "]"
}

// RollupStats are a check's stats over whole minutes, from the rollups.
type RollupStats struct {
	Runs        uint64            `ch:"runs"`
	Successes   uint64            `ch:"successes"`
	DurationSum float64           `ch:"duration_sum"`
	DurationMax float64           `ch:"duration_max"`
	TTFBSum     float64           `ch:"ttfb_sum"`
	TTFBMax     float64           `ch:"ttfb_max"`
	Quantiles   []float64         `ch:"duration_q"` // p50, p90, p95, p99
	Statuses    map[uint16]uint64 `ch:"status_counts"`
	Classes     map[string]uint64 `ch:"class_counts"`
}

// MinuteStats merges the minute rollups of checkID over [from, to), which
// must be whole minutes.
func (s *Store) MinuteStats(ctx context.Context, checkID string, from, to time.Time) (RollupStats, error) {
	return s.RollupStats(ctx, Minute, checkID, from, to)
}

// RollupStats merges the rollups of resolution r of checkID over [from, to),
// which must be whole buckets.
func (s *Store) RollupStats(ctx context.Context, r Resolution, checkID string, from, to time.Time) (RollupStats, error) {
	if !from.Equal(r.truncate(from)) || !to.Equal(r.truncate(to)) {
		return RollupStats{}, fmt.Errorf("%s stats: %s..%s is not whole buckets", r.table, from, to)
	}
	var rows []RollupStats
	err := s.b.Select(ctx, &rows, s.sql(`SELECT
  sum(runs) AS runs, sum(successes) AS successes,
  sum(duration_sum) AS duration_sum, max(duration_max) AS duration_max,
  sum(ttfb_sum) AS ttfb_sum, max(ttfb_max) AS ttfb_max,
  quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(duration_q) AS duration_q,
  sumMap(status_counts) AS status_counts,
  sumMap(class_counts) AS class_counts
FROM ${db}.`+r.table+` FINAL
WHERE check_id = {check_id:String}
  AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}`),
		Params{"check_id": checkID, "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return RollupStats{}, fmt.Errorf("minute stats of %s: %w", checkID, err)
	}
	if len(rows) == 0 {
		return RollupStats{}, nil
	}
	return rows[0], nil
}
