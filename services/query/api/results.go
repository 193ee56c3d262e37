package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/picket-dev/picket/platform/store"
)

// ResultsJSON is the body of GET /api/v1/checks/{id}/results: each failed
// run with what the prober reported (failure_message), the journey step it
// failed at and the first assertion that failed.
type ResultsJSON struct {
	CheckID    string       `json:"check_id"`
	Results    []ResultJSON `json:"results"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// resultCursor is a store.ResultCursor in a cursor.
type resultCursor struct {
	At       time.Time `json:"t"`
	Location string    `json:"l"`
	ResultID string    `json:"r"`
}

func (a *API) results(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := chi.URLParam(r, "checkID")
	from, to, param, err := timeRange(q, a.now(), 24*time.Hour)
	if err != nil {
		badParam(w, param, err.Error())
		return
	}
	limit, err := intParam(q, "limit", 100, 1, 1000)
	if err != nil {
		badParam(w, "limit", err.Error())
		return
	}
	failures, err := boolParam(q, "failures")
	if err != nil {
		badParam(w, "failures", err.Error())
		return
	}
	rq := store.ResultsQuery{CheckID: id, Location: q.Get("location"), FailuresOnly: failures,
		From: from, To: to, Limit: limit + 1}
	if s := q.Get("cursor"); s != "" {
		var c resultCursor
		if err := decodeCursor(s, &c); err != nil {
			badParam(w, "cursor", err.Error())
			return
		}
		rq.After = &store.ResultCursor{ScheduledAt: c.At, Location: c.Location, ResultID: c.ResultID}
	}
	rows, err := a.store.ResultsPage(r.Context(), rq)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if len(rows) == 0 && rq.After == nil && !a.knownCheck(w, r, id) {
		return
	}
	out := ResultsJSON{CheckID: id, Results: []ResultJSON{}}
	if len(rows) > limit { // one more than asked: there is a next page
		rows = rows[:limit]
		last := rows[limit-1]
		out.NextCursor = encodeCursor(resultCursor{At: last.ScheduledAt.UTC(), Location: last.Location, ResultID: last.ResultID})
	}
	for _, row := range rows {
		out.Results = append(out.Results, resultJSON(row))
	}
	writeJSON(w, out)
}
