package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
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
}

// InsertResults writes rows in one insert. Rows already present (same check,
// location and tick) collapse with them, so a retry or replay is harmless.
func (s *Store) InsertResults(ctx context.Context, rows []ResultRow) error {
	for i := range rows {
		if rows[i].CertNotAfter.IsZero() {
			rows[i].CertNotAfter = time.Unix(0, 0)
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

// StatsQuery selects the results a Stats call summarises.
type StatsQuery struct {
	CheckID string
	// Location filters to one location; empty means all.
	Location string
	From, To time.Time
}

// Stats summarises a check's results over a time range.
type Stats struct {
	Samples       uint64
	Successes     uint64
	Availability  float64 // 0..1; 0 when there are no samples
	AvgResponseMS float64
	MaxResponseMS float64
	AvgTTFBMS     float64
	MaxTTFBMS     float64
	// StatusCodes counts each HTTP status; 0 stands for "no response".
	StatusCodes map[string]uint64
	// Phase averages, in milliseconds.
	AvgDNSMS, AvgConnectMS, AvgTLSMS, AvgProcessingMS, AvgTransferMS float64
}

type statsRow struct {
	Samples         uint64  `ch:"samples"`
	Successes       uint64  `ch:"successes"`
	AvgResponseMS   float64 `ch:"avg_response_ms"`
	MaxResponseMS   float64 `ch:"max_response_ms"`
	AvgTTFBMS       float64 `ch:"avg_ttfb_ms"`
	MaxTTFBMS       float64 `ch:"max_ttfb_ms"`
	AvgDNSMS        float64 `ch:"avg_dns_ms"`
	AvgConnectMS    float64 `ch:"avg_connect_ms"`
	AvgTLSMS        float64 `ch:"avg_tls_ms"`
	AvgProcessingMS float64 `ch:"avg_processing_ms"`
	AvgTransferMS   float64 `ch:"avg_transfer_ms"`
}

type statusRow struct {
	Status uint16 `ch:"status"`
	Count  uint64 `ch:"n"`
}

const statsWhere = `
FROM ${db}.check_results FINAL
WHERE check_id = {check_id:String}
  AND ({location:String} = '' OR location = {location:String})
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}`

// Stats computes q's summary from the raw rows, counting each result once.
func (s *Store) Stats(ctx context.Context, q StatsQuery) (Stats, error) {
	p := Params{"check_id": q.CheckID, "location": q.Location, "from": TimeParam(q.From), "to": TimeParam(q.To)}
	var rows []statsRow
	err := s.b.Select(ctx, &rows, s.sql(`SELECT
  count() AS samples,
  countIf(success) AS successes,
  ifNotFinite(avg(duration_ms), 0) AS avg_response_ms,
  max(duration_ms) AS max_response_ms,
  ifNotFinite(avg(ttfb_ms), 0) AS avg_ttfb_ms,
  max(ttfb_ms) AS max_ttfb_ms,
  ifNotFinite(avg(dns_ms), 0) AS avg_dns_ms,
  ifNotFinite(avg(connect_ms), 0) AS avg_connect_ms,
  ifNotFinite(avg(tls_ms), 0) AS avg_tls_ms,
  ifNotFinite(avg(processing_ms), 0) AS avg_processing_ms,
  ifNotFinite(avg(transfer_ms), 0) AS avg_transfer_ms`+statsWhere), p)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of %s: %w", q.CheckID, err)
	}
	var codes []statusRow
	err = s.b.Select(ctx, &codes, s.sql(`SELECT http_status AS status, count() AS n`+statsWhere+`
GROUP BY http_status ORDER BY http_status`), p)
	if err != nil {
		return Stats{}, fmt.Errorf("status codes of %s: %w", q.CheckID, err)
	}
	st := Stats{StatusCodes: map[string]uint64{}}
	if len(rows) == 1 {
		r := rows[0]
		st.Samples, st.Successes = r.Samples, r.Successes
		st.AvgResponseMS, st.MaxResponseMS = r.AvgResponseMS, r.MaxResponseMS
		st.AvgTTFBMS, st.MaxTTFBMS = r.AvgTTFBMS, r.MaxTTFBMS
		st.AvgDNSMS, st.AvgConnectMS, st.AvgTLSMS = r.AvgDNSMS, r.AvgConnectMS, r.AvgTLSMS
		st.AvgProcessingMS, st.AvgTransferMS = r.AvgProcessingMS, r.AvgTransferMS
	}
	if st.Samples > 0 {
		st.Availability = float64(st.Successes) / float64(st.Samples)
	}
	for _, c := range codes {
		st.StatusCodes[strconv.Itoa(int(c.Status))] = c.Count
	}
	return st, nil
}

// CheckSummary is one check seen in the results.
type CheckSummary struct {
	CheckID   string    `ch:"check_id"`
	CheckName string    `ch:"check_name"`
	CheckType string    `ch:"check_type"`
	Locations []string  `ch:"locations"`
	LastSeen  time.Time `ch:"last_seen"`
}

// Checks lists the checks with results since since, by id.
func (s *Store) Checks(ctx context.Context, since time.Time) ([]CheckSummary, error) {
	var out []CheckSummary
	err := s.b.Select(ctx, &out, s.sql(`SELECT check_id,
  argMax(check_name, scheduled_at) AS check_name,
  argMax(check_type, scheduled_at) AS check_type,
  arraySort(groupUniqArray(toString(location))) AS locations,
  max(scheduled_at) AS last_seen
FROM ${db}.check_results
WHERE scheduled_at >= {since:DateTime64(3, 'UTC')}
GROUP BY check_id ORDER BY check_id`), Params{"since": TimeParam(since)})
	if err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CheckID < out[j].CheckID })
	return out, nil
}
