package store

import (
	"context"
	"fmt"
	"strconv"
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
// It reads check_latest (migration 0015), which holds the newest result and
// the newest failure of every (check, location) as they are inserted: a few
// rows per check, where a search of check_results for each one's newest row
// reads the sort-key columns of every result in the range. The newest result
// since since is the newest result, when that is since since; and so for the
// failures. LatestResultsFromRaw computes the same answer from the raw rows.
func (s *Store) LatestResults(ctx context.Context, since time.Time, checks []string) ([]LatestResult, error) {
	// The two reads run at once, each on its own session.
	var failures []ResultRow
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		failures, ferr = s.latestRows(ctx, latestFailure, since, checks)
	}()
	latest, err := s.latestRows(ctx, latestResult, since, checks)
	<-done
	if err != nil {
		return nil, fmt.Errorf("latest results: %w", err)
	}
	if ferr != nil {
		return nil, fmt.Errorf("latest failures: %w", ferr)
	}
	return withFailures(latest, failures), nil
}

// The kinds of check_latest's rows: the newest result, the newest failure.
const (
	latestResult  = "result"
	latestFailure = "failure"
)

// latestRows returns check_latest's rows of kind since since, of checks
// (every check when empty), by check and location.
func (s *Store) latestRows(ctx context.Context, kind string, since time.Time, checks []string) ([]ResultRow, error) {
	var out []ResultRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT `+resultColumns+`
FROM ${db}.check_latest FINAL
PREWHERE kind = {kind:String}
  AND (empty({checks:Array(String)}) OR check_id IN (SELECT arrayJoin({checks:Array(String)})))
WHERE scheduled_at >= {since:DateTime64(3, 'UTC')}
ORDER BY check_id, location`), Params{"kind": kind, "since": TimeParam(since), "checks": ArrayParam(checks)})
	return out, err
}

// withFailures pairs each newest result with the newest failure of its
// check and location, if any.
func withFailures(latest, failures []ResultRow) []LatestResult {
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
	return out
}

// LatestResultsFromRaw computes LatestResults' answer from check_results: what
// it must equal, and what it is measured against.
//
// Each lookup first finds the newest time per (check, location) reading only
// the sort-key columns, then reads the whole rows at exactly those times:
// the wide columns (message, labels) are decoded for one row per location,
// not for every result in the range.
func (s *Store) LatestResultsFromRaw(ctx context.Context, since time.Time, checks []string) ([]LatestResult, error) {
	p := Params{"since": TimeParam(since), "checks": ArrayParam(checks)}
	latest, err := s.newestRows(ctx, "1", p)
	if err != nil {
		return nil, fmt.Errorf("latest results: %w", err)
	}
	failures, err := s.newestRows(ctx, "NOT success AND "+measured, p)
	if err != nil {
		return nil, fmt.Errorf("latest failures: %w", err)
	}
	return withFailures(latest, failures), nil
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

// OpenStates are the states in which a rule's alert is open: down and
// degraded page; stale (the check stopped reporting) resolved the page but
// is as much what someone must look at.
var OpenStates = []string{"down", "degraded", "stale"}

// OpenAlerts returns the (check, rule) pairs whose newest transition is to
// one of states (OpenStates when none), newest first.
func (s *Store) OpenAlerts(ctx context.Context, states ...string) ([]AlertRow, error) {
	if len(states) == 0 {
		states = OpenStates
	}
	var out []AlertRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT * FROM (
  SELECT `+alertColumns+`
  FROM ${db}.alert_events FINAL
  ORDER BY check_id, rule, at DESC
  LIMIT 1 BY check_id, rule)
WHERE has({open:Array(String)}, state)
ORDER BY at DESC, check_id, rule`), Params{"open": ArrayParam(states)})
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

// FirstChecks returns the ids of the first limit checks, in id order, after
// after ("" for the first) with a newest result scheduled at or after since,
// and the shortest probing interval among them: the page of an unfiltered
// check list, without reading its rows (check_latest, as LatestResults).
func (s *Store) FirstChecks(ctx context.Context, since time.Time, after string, limit int) ([]string, time.Duration, error) {
	var rows []struct {
		CheckID    string `ch:"check_id"`
		IntervalMS uint32 `ch:"interval_ms"`
	}
	err := s.b.Select(ctx, &rows, s.sql(`SELECT toString(check_id) AS check_id, min(interval_ms) AS interval_ms
FROM ${db}.check_latest FINAL
PREWHERE kind = {kind:String} AND check_id > {after:String}
WHERE scheduled_at >= {since:DateTime64(3, 'UTC')}
GROUP BY check_id
ORDER BY check_id
LIMIT {limit:UInt32}`), Params{"kind": latestResult, "after": after, "since": TimeParam(since), "limit": strconv.Itoa(limit)})
	if err != nil {
		return nil, 0, fmt.Errorf("first %d checks after %q: %w", limit, after, err)
	}
	ids := make([]string, len(rows))
	var interval time.Duration
	for i, r := range rows {
		ids[i] = r.CheckID
		if d := time.Duration(r.IntervalMS) * time.Millisecond; d > 0 && (interval == 0 || d < interval) {
			interval = d
		}
	}
	return ids, interval, nil
}
