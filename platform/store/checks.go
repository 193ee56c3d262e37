package store

import (
	"context"
	"fmt"
	"time"
)

// LatestResult is the newest stored result of one check at one location,
// with the newest failed one: what the check list shows as a check's last
// result and last error.
type LatestResult struct {
	ResultRow
	// LastFailure is the newest run that measured the target and failed
	// (nil when none is stored since the lookup's start).
	LastFailure *ResultRow
}

// resultColumns are ResultRow's columns, in its field order.
const resultColumns = `result_id, check_id, check_name, check_type, location, scheduled_at, started_at,
  duration_ms, ttfb_ms, http_status, success, failure_class, failure_message, interval_ms,
  dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, cert_not_after, cert_issuer, attempts, labels`

// LatestResults returns, per check and location with a result scheduled
// at or after since, its newest result and newest failure, ordered by check
// and location. checks empty means every check.
//
// Each lookup first finds the newest time per (check, location) reading only
// the sort-key columns, then reads the whole rows at exactly those times:
// the wide columns (message, labels) are decoded for one row per location,
// not for every result in the range.
func (s *Store) LatestResults(ctx context.Context, since time.Time, checks []string) ([]LatestResult, error) {
	p := Params{"since": TimeParam(since), "checks": ArrayParam(checks)}
	latest, err := s.newestRows(ctx, "1", p)
	if err != nil {
		return nil, fmt.Errorf("latest results: %w", err)
	}
	failures, err := s.newestRows(ctx, "NOT success AND "+measured, p)
	if err != nil {
		return nil, fmt.Errorf("latest failures: %w", err)
	}
	type key struct{ check, loc string }
	failed := make(map[key]*ResultRow, len(failures))
	for i := range failures {
		f := &failures[i]
		failed[key{f.CheckID, f.Location}] = f
	}
	out := make([]LatestResult, len(latest))
	for i, r := range latest {
		out[i] = LatestResult{ResultRow: r, LastFailure: failed[key{r.CheckID, r.Location}]}
	}
	return out, nil
}

// newestRows returns the newest row matching cond per (check, location).
func (s *Store) newestRows(ctx context.Context, cond string, p Params) ([]ResultRow, error) {
	var rows []ResultRow
	err := s.b.Select(ctx, &rows, s.sql(`SELECT `+resultColumns+`
FROM ${db}.check_results
PREWHERE scheduled_at >= {since:DateTime64(3, 'UTC')}
  AND (empty({checks:Array(String)}) OR check_id IN (SELECT arrayJoin({checks:Array(String)})))
  AND (check_id, location, scheduled_at) IN (
    SELECT check_id, location, max(scheduled_at)
    FROM ${db}.check_results
    PREWHERE scheduled_at >= {since:DateTime64(3, 'UTC')}
      AND (empty({checks:Array(String)}) OR check_id IN (SELECT arrayJoin({checks:Array(String)})))
    WHERE `+cond+`
    GROUP BY check_id, location)
WHERE `+cond+`
ORDER BY check_id, location, result_id`), p)
	if err != nil {
		return nil, err
	}
	// A row delivered twice and not merged yet shows twice: keep one.
	out := rows[:0]
	for i, r := range rows {
		if i > 0 && r.CheckID == rows[i-1].CheckID && r.Location == rows[i-1].Location {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// LastTransitions returns the newest transition of every (check, rule) of
// checks (every check when empty), by check and rule.
func (s *Store) LastTransitions(ctx context.Context, checks []string) ([]AlertRow, error) {
	var out []AlertRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT `+alertColumns+`
FROM ${db}.alert_events FINAL
WHERE empty({checks:Array(String)}) OR check_id IN (SELECT arrayJoin({checks:Array(String)}))
ORDER BY check_id, rule, at DESC
LIMIT 1 BY check_id, rule`), Params{"checks": ArrayParam(checks)})
	if err != nil {
		return nil, fmt.Errorf("last transitions: %w", err)
	}
	return out, nil
}

// OpenStates are the states in which a rule's alert is open.
var OpenStates = []string{"down", "degraded"}

// OpenAlerts returns the (check, rule) pairs whose newest transition is to
// an open state (OpenStates), newest first.
func (s *Store) OpenAlerts(ctx context.Context) ([]AlertRow, error) {
	var out []AlertRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT * FROM (
  SELECT `+alertColumns+`
  FROM ${db}.alert_events FINAL
  ORDER BY check_id, rule, at DESC
  LIMIT 1 BY check_id, rule)
WHERE has({open:Array(String)}, state)
ORDER BY at DESC, check_id, rule`), Params{"open": ArrayParam(OpenStates)})
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	return out, nil
}

// Locations lists the locations with a result of checkID in the days
// overlapping [from, to), from the day rollups (kept forever, rebuilt after
// every write), by name.
func (s *Store) Locations(ctx context.Context, checkID string, from, to time.Time) ([]string, error) {
	var rows []struct {
		Location string `ch:"location"`
	}
	err := s.b.Select(ctx, &rows, s.sql(`SELECT DISTINCT toString(location) AS location
FROM ${db}.check_rollup_1d
PREWHERE check_id = {check_id:String}
  AND bucket >= toStartOfDay({from:DateTime64(3, 'UTC')}) AND bucket < {to:DateTime64(3, 'UTC')}
ORDER BY location`), Params{"check_id": checkID, "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return nil, fmt.Errorf("locations of %s: %w", checkID, err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Location
	}
	return out, nil
}
