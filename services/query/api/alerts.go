package api

import (
	"context"
	"net/http"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// AlertsJSON is the body of GET /api/v1/alerts and /api/v1/alerts/open.
type AlertsJSON struct {
	Alerts     []AlertJSON `json:"alerts"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// alertCursor is a store.AlertCursor in a cursor.
type alertCursor struct {
	At      time.Time `json:"t"`
	CheckID string    `json:"c"`
	Rule    string    `json:"r"`
	EventID string    `json:"e"`
}

// alertPage reads the history page the request's filters (check_id, rule,
// state, cursor) select in [from, to), and the next page's cursor.
func (a *API) alertPage(w http.ResponseWriter, r *http.Request, from, to time.Time, limit int) ([]store.AlertRow, string, bool) {
	q := r.URL.Query()
	f := store.AlertFilter{CheckID: q.Get("check_id"), Rule: q.Get("rule"), States: listParam(q, "state"),
		From: from, To: to, Limit: limit + 1}
	if err := oneOf("state", f.States, checkStates...); err != nil {
		badParam(w, "state", err.Error())
		return nil, "", false
	}
	if s := q.Get("cursor"); s != "" {
		var c alertCursor
		if err := decodeCursor(s, &c); err != nil {
			badParam(w, "cursor", err.Error())
			return nil, "", false
		}
		f.After = &store.AlertCursor{At: c.At, CheckID: c.CheckID, Rule: c.Rule, EventID: c.EventID}
	}
	rows, err := a.store.AlertHistory(r.Context(), f)
	if err != nil {
		a.internal(w, r, err)
		return nil, "", false
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		l := rows[limit-1]
		next = encodeCursor(alertCursor{At: l.At.UTC(), CheckID: l.CheckID, Rule: l.Rule, EventID: l.EventID})
	}
	return rows, next, true
}

// openAlerts answers GET /api/v1/alerts/open: every (check, rule) whose
// newest transition is to down, degraded or stale (state narrows them),
// newest first.
func (a *API) openAlerts(w http.ResponseWriter, r *http.Request) {
	states := listParam(r.URL.Query(), "state")
	if err := oneOf("state", states, store.OpenStates...); err != nil {
		badParam(w, "state", err.Error())
		return
	}
	rows, err := a.store.OpenAlerts(r.Context(), states...)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, AlertsJSON{Alerts: alertsJSON(rows)})
}

// statsByLocation is sq's figures per location with a result in its range.
func (a *API) statsByLocation(ctx context.Context, sq store.StatsQuery) ([]StatsJSON, error) {
	locs, err := a.store.Locations(ctx, sq.CheckID, sq.From, sq.To)
	if err != nil {
		return nil, err
	}
	out := []StatsJSON{}
	for _, l := range locs {
		lq := sq
		lq.Location = l
		st, err := a.store.WindowStats(ctx, lq)
		if err != nil {
			return nil, err
		}
		out = append(out, statsJSON(lq, st))
	}
	return out, nil
}
