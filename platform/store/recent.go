package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// RecentResult is what alert rules look at in one stored result.
type RecentResult struct {
	ResultID    string    `ch:"result_id"`
	CheckID     string    `ch:"check_id"`
	CheckName   string    `ch:"check_name"`
	CheckType   string    `ch:"check_type"`
	Location    string    `ch:"location"`
	ScheduledAt time.Time `ch:"scheduled_at"`
	IntervalMS  uint32    `ch:"interval_ms"`
	Success     bool      `ch:"success"`
	// FailureClass is OverloadClass for a run the prober skipped: it says
	// nothing about the target, and alert rules must not count it.
	FailureClass string  `ch:"failure_class"`
	DurationMS   float64 `ch:"duration_ms"`
	// CertNotAfter is 1970 for a run without a TLS handshake.
	CertNotAfter time.Time         `ch:"cert_not_after"`
	Labels       map[string]string `ch:"labels"`
}

// ResultsBetween returns the stored results with from <= scheduled_at < to,
// of every check (checks empty) or of checks, in event-time order: the
// history alert rules are rebuilt from at restart, and backtests run on.
// Many checks are asked about in chunks (see idChunkBytes).
func (s *Store) ResultsBetween(ctx context.Context, checks []string, from, to time.Time) ([]RecentResult, error) {
	var out []RecentResult
	parts := 0
	for part := range idChunks(checks) {
		parts++
		var rows []RecentResult
		err := s.b.Select(ctx, &rows, s.sql(`SELECT result_id, check_id, check_name, check_type, location, scheduled_at,
  interval_ms, success, failure_class, duration_ms, cert_not_after, labels
FROM ${db}.check_results FINAL
WHERE (empty({checks:Array(String)}) OR check_id IN {checks:Array(String)})
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
ORDER BY scheduled_at, location, result_id`), Params{"checks": ArrayParam(part), "from": TimeParam(from), "to": TimeParam(to)})
		if err != nil {
			return nil, fmt.Errorf("results between %s and %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
		}
		out = append(out, rows...)
	}
	if parts > 1 {
		// Each chunk is in order; together they are merged into one.
		slices.SortStableFunc(out, func(a, b RecentResult) int {
			return cmp.Or(a.ScheduledAt.Compare(b.ScheduledAt), cmp.Compare(a.Location, b.Location), cmp.Compare(a.ResultID, b.ResultID))
		})
	}
	return out, nil
}

// NewestResult is the scheduled time of the newest stored result (zero when
// there is none).
func (s *Store) NewestResult(ctx context.Context) (time.Time, error) {
	var out []struct {
		At time.Time `ch:"at"`
	}
	if err := s.b.Select(ctx, &out, s.sql(`SELECT max(scheduled_at) AS at FROM ${db}.check_results`), nil); err != nil {
		return time.Time{}, fmt.Errorf("newest result: %w", err)
	}
	if len(out) == 0 || out[0].At.Unix() <= 0 {
		return time.Time{}, nil
	}
	return out[0].At, nil
}

// LastResults returns the newest stored result before before of each of
// checks that has one: where the alert rules count a silent check's
// staleness from when its history is older than the restore horizon.
func (s *Store) LastResults(ctx context.Context, checks []string, before time.Time) ([]RecentResult, error) {
	var out []RecentResult
	for part := range idChunks(checks) {
		if len(part) == 0 {
			break
		}
		var rows []RecentResult
		err := s.b.Select(ctx, &rows, s.sql(`SELECT check_id, argMax(result_id, t) AS result_id,
  argMax(check_name, t) AS check_name, argMax(check_type, t) AS check_type,
  argMax(location, t) AS location, max(t) AS scheduled_at,
  argMax(interval_ms, t) AS interval_ms, argMax(success, t) AS success,
  argMax(duration_ms, t) AS duration_ms, argMax(failure_class, t) AS failure_class,
  argMax(cert_not_after, t) AS cert_not_after, argMax(labels, t) AS labels
FROM (SELECT *, scheduled_at AS t FROM ${db}.check_results
  WHERE check_id IN {checks:Array(String)} AND scheduled_at < {before:DateTime64(3, 'UTC')})
GROUP BY check_id ORDER BY check_id`), Params{"checks": ArrayParam(part), "before": TimeParam(before)})
		if err != nil {
			return nil, fmt.Errorf("last results of %d checks before %s: %w", len(checks), before.Format(time.RFC3339), err)
		}
		out = append(out, rows...)
	}
	return out, nil
}
