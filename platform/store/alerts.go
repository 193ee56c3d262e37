package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// AlertRow is one row of alert_events: one state transition.
type AlertRow struct {
	EventID       string    `ch:"event_id"`
	CheckID       string    `ch:"check_id"`
	CheckName     string    `ch:"check_name"`
	Rule          string    `ch:"rule"`
	State         string    `ch:"state"`
	PreviousState string    `ch:"previous_state"`
	At            time.Time `ch:"at"`
	Message       string    `ch:"message"`
	Availability  float64   `ch:"availability"`
	Threshold     float64   `ch:"threshold"`
	WindowMS      uint64    `ch:"window_ms"`
	Samples       uint32    `ch:"samples"`
	Successes     uint32    `ch:"successes"`
	// DownSince is the zero time (1970) unless this is a recovery: then it
	// is when the previous (down or degraded) state began.
	DownSince        time.Time `ch:"down_since"`
	LastResultID     string    `ch:"last_result_id"`
	Kind             string    `ch:"kind"`
	Value            float64   `ch:"value"`
	Unit             string    `ch:"unit"`
	FirstResultID    string    `ch:"first_result_id"`
	Location         string    `ch:"location"`
	FailingLocations []string  `ch:"failing_locations"`
	Locations        uint32    `ch:"locations"`
	Quorum           uint32    `ch:"quorum"`
	Silenced         bool      `ch:"silenced"`
	Silence          string    `ch:"silence"`
	Summary          string    `ch:"summary"`
	// Historical is set on a transition found late (restore, changed rules,
	// a backlog): recorded, never paged. DetectedAt is when the aggregator
	// decided it (wall clock); it defaults to At.
	Historical bool      `ch:"historical"`
	DetectedAt time.Time `ch:"detected_at"`
}

// InsertAlerts records transitions; the same transition twice is one row.
func (s *Store) InsertAlerts(ctx context.Context, rows []AlertRow) error {
	for i := range rows {
		if rows[i].DownSince.IsZero() {
			rows[i].DownSince = time.Unix(0, 0)
		}
		if rows[i].DetectedAt.IsZero() {
			rows[i].DetectedAt = rows[i].At
		}
		if rows[i].FailingLocations == nil {
			rows[i].FailingLocations = []string{}
		}
	}
	return s.b.Insert(ctx, s.sql("${db}.alert_events"), rows)
}

// AlertRef names one transition of one check.
type AlertRef struct {
	CheckID, EventID string
}

// StoredAlertEvents returns which of refs alert_events holds, by event id.
func (s *Store) StoredAlertEvents(ctx context.Context, refs []AlertRef) (map[string]bool, error) {
	refs = slices.Clone(refs)
	slices.SortFunc(refs, func(a, b AlertRef) int {
		return cmp.Or(cmp.Compare(a.CheckID, b.CheckID), cmp.Compare(a.EventID, b.EventID))
	})
	out := map[string]bool{}
	refSize := func(r AlertRef) int { return quotedLen(r.CheckID) + quotedLen(r.EventID) }
	for part := range chunks(refs, idChunkBytes, refSize) {
		if len(part) == 0 {
			break
		}
		var checks, ids []string
		for _, r := range part {
			if len(checks) == 0 || checks[len(checks)-1] != r.CheckID {
				checks = append(checks, r.CheckID)
			}
			ids = append(ids, r.EventID)
		}
		var rows []struct {
			EventID string `ch:"event_id"`
		}
		// IN, not has(): a set, where has() compares each row with every id.
		err := s.b.Select(ctx, &rows, s.sql(`SELECT DISTINCT event_id
FROM ${db}.alert_events
WHERE check_id IN {checks:Array(String)} AND event_id IN {events:Array(String)}`),
			Params{"checks": ArrayParam(checks), "events": ArrayParam(ids)})
		if err != nil {
			return nil, fmt.Errorf("stored alert events: %w", err)
		}
		for _, r := range rows {
			out[r.EventID] = true
		}
	}
	return out, nil
}

// AlertQuery filters alert history.
type AlertQuery struct {
	CheckID  string // empty: every check
	From, To time.Time
	Limit    int
}

const alertColumns = `event_id, check_id, check_name, rule, state, previous_state, at, message,
  availability, threshold, window_ms, samples, successes, down_since, last_result_id,
  kind, value, unit, first_result_id, location, failing_locations, locations, quorum, silenced, silence, summary,
  historical, detected_at`

// Alerts returns the transitions matching q, newest first.
func (s *Store) Alerts(ctx context.Context, q AlertQuery) ([]AlertRow, error) {
	var out []AlertRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT `+alertColumns+`
FROM ${db}.alert_events FINAL
WHERE ({check_id:String} = '' OR check_id = {check_id:String})
  AND at >= {from:DateTime64(3, 'UTC')} AND at < {to:DateTime64(3, 'UTC')}
ORDER BY at DESC, check_id, rule
LIMIT {limit:UInt32}`), Params{
		"check_id": q.CheckID, "from": TimeParam(q.From), "to": TimeParam(q.To),
		"limit": fmt.Sprint(q.Limit),
	})
	if err != nil {
		return nil, fmt.Errorf("alert history: %w", err)
	}
	return out, nil
}

// LatestAlerts returns the most recent transition of every (check, rule).
func (s *Store) LatestAlerts(ctx context.Context) ([]AlertRow, error) {
	var out []AlertRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT `+alertColumns+`
FROM ${db}.alert_events FINAL
ORDER BY check_id, rule, at DESC
LIMIT 1 BY check_id, rule`), nil)
	if err != nil {
		return nil, fmt.Errorf("latest alert states: %w", err)
	}
	return out, nil
}
