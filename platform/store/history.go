package store

import (
	"context"
	"fmt"
	"time"
)

// ResultCursor is the position of a result in a results page's order
// (scheduled_at, location, result_id, all descending): the next page starts
// strictly after it, so results inserted meanwhile never shift a page.
type ResultCursor struct {
	ScheduledAt time.Time
	Location    string
	ResultID    string
}

// ResultsQuery selects a page of one check's results, newest first.
type ResultsQuery struct {
	CheckID string
	// Location filters to one location; empty means all.
	Location string
	// FailuresOnly keeps the runs that measured the target and failed.
	FailuresOnly bool
	// From is inclusive, To exclusive.
	From, To time.Time
	Limit    int
	// After continues a previous page; nil starts at the newest.
	After *ResultCursor
}

// ResultsPage returns q's results, newest first (ties by location and
// result id, descending), each once even when it was delivered twice.
func (s *Store) ResultsPage(ctx context.Context, q ResultsQuery) ([]ResultRow, error) {
	p := Params{
		"check_id": q.CheckID, "location": q.Location, "from": TimeParam(q.From), "to": TimeParam(q.To),
		"limit": fmt.Sprint(q.Limit), "failures": "0", "after": "0",
		"c_at": TimeParam(time.Unix(0, 0)), "c_loc": "", "c_id": "",
	}
	if q.FailuresOnly {
		p["failures"] = "1"
	}
	if q.After != nil {
		p["after"], p["c_at"], p["c_loc"], p["c_id"] = "1", TimeParam(q.After.ScheduledAt), q.After.Location, q.After.ResultID
	}
	var out []ResultRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT `+resultColumns+`, failed_step, failed_assertion
FROM ${db}.check_results FINAL
PREWHERE check_id = {check_id:String} AND ({location:String} = '' OR location = {location:String})
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
WHERE ({failures:UInt8} = 0 OR (NOT success AND `+measured+`))
  AND ({after:UInt8} = 0 OR (scheduled_at, toString(location), result_id) <
      ({c_at:DateTime64(3, 'UTC')}, {c_loc:String}, {c_id:String}))
ORDER BY scheduled_at DESC, location DESC, result_id DESC
LIMIT {limit:UInt32}`), p)
	if err != nil {
		return nil, fmt.Errorf("results of %s: %w", q.CheckID, err)
	}
	return out, nil
}

// AlertCursor is the position of a transition in the history's order (at
// descending, then check, rule and event id ascending).
type AlertCursor struct {
	At                     time.Time
	CheckID, Rule, EventID string
}

// AlertFilter selects a page of alert history, newest first.
type AlertFilter struct {
	CheckID, Rule string // empty: any
	States        []string
	From, To      time.Time
	Limit         int
	After         *AlertCursor
}

// AlertHistory returns f's transitions, newest first.
func (s *Store) AlertHistory(ctx context.Context, f AlertFilter) ([]AlertRow, error) {
	p := Params{
		"check_id": f.CheckID, "rule": f.Rule, "states": ArrayParam(f.States),
		"from": TimeParam(f.From), "to": TimeParam(f.To), "limit": fmt.Sprint(f.Limit),
		"after": "0", "c_at": TimeParam(time.Unix(0, 0)), "c_check": "", "c_rule": "", "c_id": "",
	}
	if c := f.After; c != nil {
		p["after"], p["c_at"], p["c_check"], p["c_rule"], p["c_id"] = "1", TimeParam(c.At), c.CheckID, c.Rule, c.EventID
	}
	var out []AlertRow
	err := s.b.Select(ctx, &out, s.sql(`SELECT `+alertColumns+`
FROM ${db}.alert_events FINAL
WHERE ({check_id:String} = '' OR check_id = {check_id:String})
  AND ({rule:String} = '' OR rule = {rule:String})
  AND (empty({states:Array(String)}) OR has({states:Array(String)}, toString(state)))
  AND at >= {from:DateTime64(3, 'UTC')} AND at < {to:DateTime64(3, 'UTC')}
  AND ({after:UInt8} = 0 OR at < {c_at:DateTime64(3, 'UTC')} OR (at = {c_at:DateTime64(3, 'UTC')}
      AND (toString(check_id), toString(rule), event_id) > ({c_check:String}, {c_rule:String}, {c_id:String})))
ORDER BY at DESC, check_id, rule, event_id
LIMIT {limit:UInt32}`), p)
	if err != nil {
		return nil, fmt.Errorf("alert history: %w", err)
	}
	return out, nil
}
