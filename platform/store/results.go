package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// ResultRow is one row of check_results.
type ResultRow struct {
	ResultID       string    `ch:"result_id"`
	CheckID        string    `ch:"check_id"`
	CheckName      string    `ch:"check_name"`
	CheckType      string    `ch:"check_type"`
	Location       string    `ch:"location"`
	ScheduledAt    time.Time `ch:"scheduled_at"`
	StartedAt      time.Time `ch:"started_at"`
	DurationMS     float64   `ch:"duration_ms"`
	TTFBMS         float64   `ch:"ttfb_ms"`
	HTTPStatus     uint16    `ch:"http_status"`
	Success        bool      `ch:"success"`
	FailureClass   string    `ch:"failure_class"`
	FailureMessage string    `ch:"failure_message"`
	IntervalMS     uint32    `ch:"interval_ms"`
	DNSMS          float64   `ch:"dns_ms"`
	ConnectMS      float64   `ch:"connect_ms"`
	TLSMS          float64   `ch:"tls_ms"`
	ProcessingMS   float64   `ch:"processing_ms"`
	TransferMS     float64   `ch:"transfer_ms"`
	// CertNotAfter is the zero time (stored as 1970) without a TLS handshake.
	CertNotAfter time.Time `ch:"cert_not_after"`
	CertIssuer   string    `ch:"cert_issuer"`
	Attempts     uint8     `ch:"attempts"`
	// Labels are the check's labels; never nil when inserted.
	Labels map[string]string `ch:"labels"`
	// FailedStep names the journey step a failed run failed at, and
	// FailedAssertion the first assertion that failed (as written); empty
	// otherwise. Read by ResultsPage only.
	FailedStep      string `ch:"failed_step"`
	FailedAssertion string `ch:"failed_assertion"`
}

// InsertResults writes rows in one insert. Rows already present (same check,
// location and tick) collapse with them, so a retry or replay is harmless.
func (s *Store) InsertResults(ctx context.Context, rows []ResultRow) error {
	for i := range rows {
		if rows[i].CertNotAfter.IsZero() {
			rows[i].CertNotAfter = time.Unix(0, 0)
		}
		if rows[i].Labels == nil {
			rows[i].Labels = map[string]string{}
		}
	}
	return s.b.Insert(ctx, s.sql("${db}.check_results"), rows)
}

// Sample is the part of a result alert rules look at.
type Sample struct {
	ResultID    string    `ch:"result_id"`
	ScheduledAt time.Time `ch:"scheduled_at"`
	Success     bool      `ch:"success"`
}

// Samples returns a check's results with from <= scheduled_at < to, oldest first.
func (s *Store) Samples(ctx context.Context, checkID string, from, to time.Time) ([]Sample, error) {
	var out []Sample
	err := s.b.Select(ctx, &out, s.sql(`SELECT result_id, scheduled_at, success
FROM ${db}.check_results FINAL
WHERE check_id = {check_id:String}
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
ORDER BY scheduled_at, location`), Params{"check_id": checkID, "from": TimeParam(from), "to": TimeParam(to)})
	if err != nil {
		return nil, fmt.Errorf("samples of %s: %w", checkID, err)
	}
	return out, nil
}

// CheckSummary is one check seen in the results.
type CheckSummary struct {
	CheckID   string    `ch:"check_id"`
	CheckName string    `ch:"check_name"`
	CheckType string    `ch:"check_type"`
	Locations []string  `ch:"locations"`
	LastSeen  time.Time `ch:"last_seen"`
}

// Checks lists the checks with results since since, by id, from
// check_latest (a location has a result since since when its newest one is).
func (s *Store) Checks(ctx context.Context, since time.Time) ([]CheckSummary, error) {
	var out []CheckSummary
	err := s.b.Select(ctx, &out, s.sql(`SELECT toString(check_id) AS check_id,
  toString(argMax(check_name, scheduled_at)) AS check_name,
  toString(argMax(check_type, scheduled_at)) AS check_type,
  arraySort(groupUniqArray(toString(location))) AS locations,
  max(scheduled_at) AS last_seen
FROM ${db}.check_latest FINAL
PREWHERE kind = {kind:String}
WHERE scheduled_at >= {since:DateTime64(3, 'UTC')}
GROUP BY check_id ORDER BY check_id`), Params{"since": TimeParam(since), "kind": latestResult})
	if err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CheckID < out[j].CheckID })
	return out, nil
}

// KnownCheck reports whether a result of checkID was ever stored: a raw row
// (kept 30 days) or a day rollup (kept forever, rebuilt after every write).
// Both tables are ordered by check id first, so it reads a granule or two.
func (s *Store) KnownCheck(ctx context.Context, checkID string) (bool, error) {
	var out []struct {
		N uint64 `ch:"n"`
	}
	err := s.b.Select(ctx, &out, s.sql(`SELECT count() AS n FROM (
  SELECT 1 FROM (SELECT 1 FROM ${db}.check_results WHERE check_id = {check_id:String} LIMIT 1)
  UNION ALL
  SELECT 1 FROM (SELECT 1 FROM ${db}.check_rollup_1d WHERE check_id = {check_id:String} LIMIT 1)
)`), Params{"check_id": checkID})
	if err != nil {
		return false, fmt.Errorf("is %q a known check: %w", checkID, err)
	}
	return len(out) > 0 && out[0].N > 0, nil
}
