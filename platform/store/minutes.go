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
// check and minute; a minute without a run is left out: the overview's bar
// of recent results at a minute each.
//
// It counts the raw rows of those minutes in check_results_by_time
// (migration 0016), where they are one range of a table ordered by time; in
// the minute rollup, ordered by check, the last minutes of every check are
// spread over the whole table. Each minute is what the rollup holds for it.
func (s *Store) RecentMinutes(ctx context.Context, checks []string, now time.Time, n int) ([]MinuteRuns, error) {
	if len(checks) == 0 || n <= 0 {
		return nil, nil
	}
	from := Minute.truncate(now).Add(-time.Duration(n-1) * time.Minute)
	var out []MinuteRuns
	err := s.b.Select(ctx, &out, s.sql(`SELECT toString(check_id) AS check_id,
  toDateTime(toStartOfMinute(scheduled_at), 'UTC') AS minute,
  countIf(`+measured+`) AS runs, countIf(success AND `+measured+`) AS successes
FROM ${db}.`+byTimeTable+` FINAL
PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, minute
HAVING runs > 0
ORDER BY check_id, minute`), Params{"checks": ArrayParam(checks), "from": TimeParam(from), "to": TimeParam(ceilMilli(now))})
	if err != nil {
		return nil, fmt.Errorf("recent minutes of %d checks: %w", len(checks), err)
	}
	for i := range out {
		out[i].Minute = out[i].Minute.UTC()
	}
	return out, nil
}
