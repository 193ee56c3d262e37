package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// OverviewCheckJSON is one check's headline figures: what the dashboard's
// table shows. An availability is null without a run in its window.
type OverviewCheckJSON struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Type            string            `json:"type"`
	Labels          map[string]string `json:"labels"`
	State           string            `json:"state"`
	LastSeen        time.Time         `json:"last_seen"`
	Availability10m *float64          `json:"availability_10m"`
	Availability24h *float64          `json:"availability_24h"`
	Availability30d *float64          `json:"availability_30d"`
	Runs24h         uint64            `json:"runs_24h"`
	AvgMS24h        float64           `json:"avg_ms_24h"`
	P95MS24h        float64           `json:"p95_ms_24h"`
	LastError       *ResultJSON       `json:"last_error"`
	// RecentMinutes are the runs of each of the last 30 minutes (the current
	// one so far), oldest first; a minute without a run is left out.
	RecentMinutes []MinuteJSON `json:"recent_minutes"`
}

// MinuteJSON is one minute's runs and successes, every location together.
type MinuteJSON struct {
	T         time.Time `json:"t"`
	Runs      uint64    `json:"runs"`
	Successes uint64    `json:"successes"`
}

// overviewMinutes is how many minutes back the overview's recent_minutes go.
const overviewMinutes = 30

// OverviewJSON is the body of GET /api/v1/overview.
type OverviewJSON struct {
	At         time.Time           `json:"at"`
	Checks     []OverviewCheckJSON `json:"checks"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

func ratio(n, d uint64) *float64 {
	if d == 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}

func (a *API) overview(w http.ResponseWriter, r *http.Request) {
	now := a.now()
	ahead := a.readAhead(r, now)
	checks, next, ok := a.checkPage(w, r, now, 100, 1000)
	if !ok {
		if ahead != nil {
			<-ahead.done
		}
		return
	}
	ids := make([]string, len(checks))
	var interval time.Duration // the shortest of the page's: it decides which rollups pay
	for i, c := range checks {
		ids[i] = c.ID
		if d := time.Duration(c.IntervalSecs * float64(time.Second)); d > 0 && (interval == 0 || d < interval) {
			interval = d
		}
	}
	var fig overviewFigures
	if ahead != nil {
		if <-ahead.done; ahead.err == nil && slices.Equal(ahead.ids, ids) {
			fig = ahead.overviewFigures
		}
	}
	if fig.figures == nil && fig.err == nil {
		fig = a.readFigures(r.Context(), ids, now, interval)
	}
	if fig.err != nil {
		a.internal(w, r, fig.err)
		return
	}
	figures, minutes := fig.figures, fig.minutes
	recent := map[string][]MinuteJSON{}
	for _, m := range minutes {
		recent[m.CheckID] = append(recent[m.CheckID], MinuteJSON{T: m.Minute, Runs: m.Runs, Successes: m.Successes})
	}
	byID := make(map[string]store.OverviewFigures, len(figures))
	for _, fg := range figures {
		byID[fg.CheckID] = fg
	}
	out := OverviewJSON{At: now.UTC(), Checks: make([]OverviewCheckJSON, len(checks)), NextCursor: next}
	for i, c := range checks {
		fg := byID[c.ID]
		oc := OverviewCheckJSON{ID: c.ID, Name: c.Name, Type: c.Type, Labels: c.Labels, State: c.State, LastSeen: c.LastSeen,
			Availability10m: ratio(fg.Successes10m, fg.Runs10m), Availability24h: ratio(fg.Successes24h, fg.Runs24h),
			Availability30d: ratio(fg.Successes30d, fg.Runs30d), Runs24h: fg.Runs24h,
			P95MS24h: fg.Percentiles24h().P95, LastError: c.LastFailure, RecentMinutes: recent[c.ID]}
		if oc.RecentMinutes == nil {
			oc.RecentMinutes = []MinuteJSON{}
		}
		if fg.Runs24h > 0 {
			oc.AvgMS24h = fg.DurationSum24h / float64(fg.Runs24h)
		}
		out.Checks[i] = oc
	}
	writeJSON(w, out)
}

// overviewFigures are the figures and recent minutes of a page's checks.
type overviewFigures struct {
	figures []store.OverviewFigures
	minutes []store.MinuteRuns
	err     error
}

// readFigures reads the figures and recent minutes of ids, both at once,
// each on its own session.
func (a *API) readFigures(ctx context.Context, ids []string, now time.Time, interval time.Duration) overviewFigures {
	var out overviewFigures
	var merr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.minutes, merr = a.store.RecentMinutes(ctx, ids, now, overviewMinutes)
	}()
	out.figures, out.err = a.store.Overview(ctx, ids, now, interval)
	<-done
	if out.err == nil {
		out.err = merr
	}
	if out.figures == nil {
		out.figures = []store.OverviewFigures{}
	}
	return out
}

// figuresAhead are the figures of the checks an unfiltered page will hold,
// read while the catalog is: ids are those checks, from check_latest.
type figuresAhead struct {
	done chan struct{}
	ids  []string
	overviewFigures
}

// readAhead starts reading the figures of the page r asks for when it
// filters nothing (no label, state, search or window): the page is then the
// first checks after the cursor, in id order, which a light read of
// check_latest gives without the catalog's rows, and their figures need not
// wait for the catalog. The overview uses them if the catalog's page has
// exactly those checks (a check that appeared in between is read again);
// nil when r filters.
func (a *API) readAhead(r *http.Request, now time.Time) *figuresAhead {
	if a.noReadAhead {
		return nil
	}
	q := r.URL.Query()
	for _, k := range []string{"label", "state", "q", "window", "from", "to"} {
		if q.Has(k) {
			return nil
		}
	}
	limit, err := intParam(q, "limit", 100, 1, 1000)
	if err != nil {
		return nil
	}
	var c checkCursor
	if s := q.Get("cursor"); s != "" && decodeCursor(s, &c) != nil {
		return nil
	}
	ah := &figuresAhead{done: make(chan struct{})}
	go func() {
		defer close(ah.done)
		var interval time.Duration
		if ah.ids, interval, ah.err = a.store.FirstChecks(r.Context(), now.Add(-checkLookback), c.After, limit); ah.err == nil {
			ah.overviewFigures = a.readFigures(r.Context(), ah.ids, now, interval)
		}
	}()
	return ah
}
