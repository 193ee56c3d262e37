package api

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// StatusPage is one public status page: the checks it shows, picked by id,
// by labels, or both. Its slug (the page's URL, /status/{slug}) is its key
// in the configuration.
type StatusPage struct {
	// Title heads the page; empty shows the slug.
	Title string `koanf:"title"`
	// Checks are check ids, shown first and in this order.
	Checks []string `koanf:"checks"`
	// Labels also show every check that carries all of them, after Checks,
	// by id: its labels as defined (its definition as last published), else
	// those of its newest result in the raw rows' 30 days. A defined check
	// silent for longer is shown stale, with its daily bars.
	Labels map[string]string `koanf:"labels"`
}

// StatusDays is how many UTC days of uptime a status page shows, today
// (so far) the last.
const StatusDays = 90

// The overall states of a status page.
const (
	PageOperational   = "operational"
	PageDegraded      = "degraded"
	PagePartialOutage = "partial_outage"
	PageMajorOutage   = "major_outage"
	PageUnknown       = "unknown"
)

// StatusPageJSON is the body of GET /api/v1/status/{slug}.
type StatusPageJSON struct {
	Slug  string `json:"slug"`
	Title string `json:"title"`
	// Status is the page's overall state (see pageStatus) and Banner says it
	// in words.
	Status      string            `json:"status"`
	Banner      string            `json:"banner"`
	GeneratedAt time.Time         `json:"generated_at"`
	Checks      []StatusCheckJSON `json:"checks"`
}

// StatusCheckJSON is one check of a status page: its current state, as the
// check list computes it, and its daily uptime.
type StatusCheckJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
	// LastChecked is its newest result's time (null: none in 30 days).
	LastChecked *time.Time `json:"last_checked"`
	// Uptime is over the StatusDays days (null: no run in them).
	Uptime *float64 `json:"uptime"`
	// Days are the StatusDays UTC days, oldest first, today the last.
	Days []StatusDayJSON `json:"days"`
}

// StatusDayJSON is one UTC day of a check: its runs, successes and uptime
// (null: no run that day, which is "no data", not 100 %). Runs the prober
// skipped for its own overload count nowhere.
type StatusDayJSON struct {
	Date      string   `json:"date"`
	Runs      uint64   `json:"runs"`
	Successes uint64   `json:"successes"`
	Uptime    *float64 `json:"uptime"`
}

// SetStatusPages sets the status pages the API serves, by slug; call it
// before Handler.
func (a *API) SetStatusPages(pages map[string]StatusPage) { a.statusPages = pages }

// statusCache is how long a client or proxy may keep a status page or a
// badge: they are public and read by many, and a minute old is still news.
const statusCache = "public, max-age=60"

func (a *API) statusJSON(w http.ResponseWriter, r *http.Request) {
	p, ok := a.statusPage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", statusCache)
	writeJSON(w, p)
}

// statusPage builds the page of the request's slug; false means it
// answered the request with a problem.
func (a *API) statusPage(w http.ResponseWriter, r *http.Request) (StatusPageJSON, bool) {
	slug := chi.URLParam(r, "slug")
	cfg, ok := a.statusPages[slug]
	if !ok {
		writeProblem(w, Problem{Status: http.StatusNotFound, Title: "Unknown status page",
			Detail: fmt.Sprintf("no status page %q is configured (status_pages)", slug)})
		return StatusPageJSON{}, false
	}
	p, err := a.buildStatusPage(r.Context(), slug, cfg, a.now())
	if err != nil {
		a.internal(w, r, err)
		return StatusPageJSON{}, false
	}
	return p, true
}

func (a *API) buildStatusPage(ctx context.Context, slug string, cfg StatusPage, now time.Time) (StatusPageJSON, error) {
	// The checks heard from within the raw rows' 30 days: every one when
	// labels select (a check gone quiet stays on the page, stale, instead of
	// leaving it looking operational; one quiet for longer is found by its
	// definition), else the listed ones.
	ids := cfg.Checks
	if len(cfg.Labels) > 0 {
		ids = nil
	}
	recent, err := a.catalog(ctx, now.Add(-checkLookback), ids)
	if err != nil {
		return StatusPageJSON{}, err
	}
	byID := make(map[string]CheckJSON, len(cfg.Checks))
	for _, c := range recent {
		if slices.Contains(cfg.Checks, c.ID) {
			byID[c.ID] = c
		}
	}
	defined := a.definedChecks()
	picked := make([]CheckJSON, 0, len(cfg.Checks))
	for _, id := range cfg.Checks {
		c, ok := byID[id]
		if !ok { // nothing in 30 days (or never): shown, without data, named as defined
			c = CheckJSON{ID: id, Name: defined[id].Name, State: StateStale}
		}
		picked = append(picked, c)
	}
	if len(cfg.Labels) > 0 {
		sel := labelSelector(cfg.Labels)
		var byLabel []CheckJSON
		heard := map[string]bool{}
		for _, c := range recent {
			heard[c.ID] = true
			labels := c.Labels
			if d, ok := defined[c.ID]; ok {
				labels = d.Labels
			}
			if sel.matches(labels) && !slices.Contains(cfg.Checks, c.ID) {
				byLabel = append(byLabel, c)
			}
		}
		for id, d := range defined { // silent for 30 days or more, or never heard from
			if !heard[id] && sel.matches(d.Labels) && !slices.Contains(cfg.Checks, id) {
				byLabel = append(byLabel, CheckJSON{ID: id, Name: d.Name, State: StateStale, Labels: d.Labels})
			}
		}
		slices.SortFunc(byLabel, func(a, b CheckJSON) int { return strings.Compare(a.ID, b.ID) })
		picked = append(picked, byLabel...)
	}
	ids = make([]string, len(picked))
	for i, c := range picked {
		ids[i] = c.ID
	}
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(StatusDays - 1))
	days, err := a.store.DailyUptime(ctx, ids, first, now)
	if err != nil {
		return StatusPageJSON{}, err
	}
	type key struct {
		check string
		day   time.Time
	}
	byDay := map[key][2]uint64{}
	for _, d := range days {
		byDay[key{d.CheckID, d.Day}] = [2]uint64{d.Runs, d.Successes}
	}
	title := cfg.Title
	if title == "" {
		title = slug
	}
	out := StatusPageJSON{Slug: slug, Title: title, GeneratedAt: now.UTC(), Checks: make([]StatusCheckJSON, len(picked))}
	for i, c := range picked {
		sc := StatusCheckJSON{ID: c.ID, Name: c.Name, State: c.State, Days: make([]StatusDayJSON, StatusDays)}
		if sc.Name == "" {
			sc.Name = c.ID
		}
		if c.LastResult != nil {
			t := c.LastSeen.UTC()
			sc.LastChecked = &t
		}
		var runs, successes uint64
		for j := range StatusDays {
			d := first.AddDate(0, 0, j)
			n := byDay[key{c.ID, d}]
			sc.Days[j] = StatusDayJSON{Date: d.Format(time.DateOnly), Runs: n[0], Successes: n[1], Uptime: ratio(n[1], n[0])}
			runs, successes = runs+n[0], successes+n[1]
		}
		sc.Uptime = ratio(successes, runs)
		out.Checks[i] = sc
	}
	out.Status, out.Banner = pageStatus(out.Checks)
	return out, nil
}

// pageStatus is a page's overall state and its banner: unknown when no
// check reports (all stale, or none); a major outage when every reporting
// check is down, a partial one when some are; degraded when some are
// degraded or some stopped reporting; operational when all are up.
func pageStatus(checks []StatusCheckJSON) (status, banner string) {
	n := map[string]int{}
	for _, c := range checks {
		n[c.State]++
	}
	reporting := len(checks) - n[StateStale]
	switch {
	case reporting == 0:
		return PageUnknown, "No recent data"
	case n[StateDown] == reporting:
		return PageMajorOutage, "Major outage"
	case n[StateDown] > 0:
		return PagePartialOutage, "Partial outage"
	case n[StateDegraded] > 0:
		return PageDegraded, "Degraded performance"
	case n[StateStale] > 0:
		return PageDegraded, "Some systems are not reporting"
	}
	return PageOperational, "All systems operational"
}

// percent writes an uptime (0..1) for people, rounded down so that a day
// with one failure never reads 100 %.
func percent(u float64) string {
	if u >= 1 {
		return "100 %"
	}
	return fmt.Sprintf("%.2f %%", math.Floor(u*10000)/100)
}

// uptimeClass is a bar's colour: a day's (or a window's) uptime.
func uptimeClass(u *float64) string {
	switch {
	case u == nil:
		return "none"
	case *u >= 0.999:
		return "good"
	case *u >= 0.99:
		return "fair"
	case *u >= 0.95:
		return "poor"
	}
	return "bad"
}

//go:embed status.html.tmpl
var statusHTML string

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"percent": percent,
	"class":   uptimeClass,
	"stateText": func(s string) string {
		return map[string]string{StateUp: "Operational", StateDown: "Down", StateDegraded: "Degraded", StateStale: "No recent data"}[s]
	},
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).Parse(statusHTML))

func (a *API) statusHTML(w http.ResponseWriter, r *http.Request) {
	p, ok := a.statusPage(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, p); err != nil { // before a byte is sent: a 500, not half a page
		a.log.Error("status page", "slug", p.Slug, "err", err)
		writeProblem(w, Problem{Status: http.StatusInternalServerError, Detail: "the status page did not render"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", statusCache)
	// Nothing but the page's own inline style: no script, no other origin.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Write(b.Bytes())
}
