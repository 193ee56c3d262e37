package store

import (
	"context"
	"fmt"
	"time"
)

// MinuteRuns are one check's runs and successes in one minute, every
// location together (runs the prober skipped for its own overload count in
// neither, as in the rollups).
type MinuteRuns struct {
	CheckID   string    `ch:"check_id"`
	Minute    time.Time `ch:"minute"`
	Runs      uint64    `ch:"runs"`
	Successes uint64    `ch:"successes"`
}

// RecentMinutes returns, for each of checks, its runs and successes in each
// of the n minutes up to now (the n-th the minute now is in, so far), by
// check and minute; a minute without a run is left out. It reads the minute
// rollup only: n rows a location per check, the overview's bar of recent
// results at a minute each.
func (s *Store) RecentMinutes(ctx context.Context, checks []string, now time.Time, n int) ([]MinuteRuns, error) {
	if len(checks) == 0 || n <= 0 {
		return nil, nil
	}
	from := Minute.truncate(now).Add(-time.Duration(n-1) * time.Minute)
	var out []MinuteRuns
	err := s.b.Select(ctx, &out, s.sql(`SELECT toString(check_id) AS check_id, bucket AS minute,
  sum(runs) AS runs, sum(successes) AS successes
FROM ${db}.check_rollup_1m FINAL
PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
  AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, bucket
HAVING runs > 0
ORDER BY check_id, bucket`), Params{"checks": ArrayParam(checks), "from": TimeParam(from), "to": TimeParam(ceilMilli(now))})
	if err != nil {
		return nil, fmt.Errorf("recent minutes of %d checks: %w", len(checks), err)
	}
	for i := range out {
		out[i].Minute = out[i].Minute.UTC()
	}
	return out, nil
}
