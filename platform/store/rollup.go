package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RebuildMinutes recomputes the minute rollups of checks for the minutes
// overlapping [from, to) from the deduplicated raw rows. Running it twice, or
// after a replay, gives the same rollups.
func (s *Store) RebuildMinutes(ctx context.Context, checks []string, from, to time.Time) error {
	if len(checks) == 0 {
		return nil
	}
	from = from.UTC().Truncate(time.Minute)
	to = to.UTC().Truncate(time.Minute).Add(time.Minute)
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
	if !from.Equal(from.Truncate(time.Minute)) || !to.Equal(to.Truncate(time.Minute)) {
		return RollupStats{}, fmt.Errorf("minute stats: %s..%s is not whole minutes", from, to)
	}
	var rows []RollupStats
	err := s.b.Select(ctx, &rows, s.sql(`SELECT
  sum(runs) AS runs, sum(successes) AS successes,
  sum(duration_sum) AS duration_sum, max(duration_max) AS duration_max,
  sum(ttfb_sum) AS ttfb_sum, max(ttfb_max) AS ttfb_max,
  quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(duration_q) AS duration_q,
  sumMap(status_counts) AS status_counts,
  sumMap(class_counts) AS class_counts
FROM ${db}.check_rollup_1m FINAL
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
