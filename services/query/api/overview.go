package api

import (
	"net/http"
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
	checks, next, ok := a.checkPage(w, r, now, 100, 1000)
	if !ok {
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
	figures, err := a.store.Overview(r.Context(), ids, now, interval)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	minutes, err := a.store.RecentMinutes(r.Context(), ids, now, overviewMinutes)
	if err != nil {
		a.internal(w, r, err)
		return
	}
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
