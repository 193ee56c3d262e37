package store

import (
	"context"
	"fmt"
	"time"
)

// MinuteCount is what one check measured at one location in one minute, as
// the minute rollup holds it: runs skipped for overload are not counted.
type MinuteCount struct {
	CheckID   string    `ch:"check_id"`
	Location  string    `ch:"location"`
	Minute    time.Time `ch:"bucket"`
	Runs      uint64    `ch:"runs"`
	Successes uint64    `ch:"successes"`
}

// MinuteCounts returns the minute rollups' runs and successes of checks
// (none: every check) in [from, to), in minute order: what the burn-rate
// rules' counters are rebuilt from, for windows far longer than the raw rows
// read at a restore or a backtest's warm-up.
func (s *Store) MinuteCounts(ctx context.Context, checks []string, from, to time.Time) ([]MinuteCount, error) {
	if !to.After(from) {
		return nil, nil
	}
	which := "1" // IN, unlike has() or an OR, narrows the read to the checks' granules
	if len(checks) > 0 {
		which = "check_id IN {checks:Array(String)}"
	}
	var out []MinuteCount
	err := s.b.Select(ctx, &out, s.sql(`SELECT check_id, location, bucket, runs, successes
FROM ${db}.check_rollup_1m FINAL
WHERE `+which+`
  AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}
  AND runs > 0
ORDER BY bucket, check_id, location`), Params{"checks": ArrayParam(checks), "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return nil, fmt.Errorf("minute counts between %s and %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return out, nil
}
