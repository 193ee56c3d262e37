package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/picket-dev/picket/platform/store"
)

// The states a check, a rule or a location can be in.
const (
	StateUp       = "up"
	StateDown     = "down"
	StateDegraded = "degraded"
	StateStale    = "stale"
)

var checkStates = []string{StateUp, StateDown, StateDegraded, StateStale}

// staleIntervals is how many probing intervals a location may go without a
// result before it is stale: a missed tick or two is a slow pipeline, three
// is a prober or location that stopped.
const staleIntervals = 3

// storeLag is how long after it was probed a result may reach the rows the
// API reads, besides the probing interval: the aggregator stores results
// with its rollup flush (every rollup_interval, 1 s by default, once every
// batch before it is stored), after the prober's send and the consumer's
// batching. A location is stale when its newest result is older than
// staleIntervals intervals plus this, as of when the rows were read: for a
// check probed every second or faster, three intervals alone are shorter
// than the pipeline's own lag, and it would flicker stale while probed.
const storeLag = 5 * time.Second

// ResultJSON is one stored result.
type ResultJSON struct {
	ResultID       string     `json:"result_id"`
	Location       string     `json:"location"`
	ScheduledAt    time.Time  `json:"scheduled_at"`
	StartedAt      time.Time  `json:"started_at"`
	Success        bool       `json:"success"`
	HTTPStatus     uint16     `json:"http_status"`
	FailureClass   string     `json:"failure_class"`
	FailureMessage string     `json:"failure_message"`
	DurationMS     float64    `json:"duration_ms"`
	TTFBMS         float64    `json:"ttfb_ms"`
	Attempts       uint8      `json:"attempts"`
	PhasesMS       PhasesJSON `json:"phases_ms"`
	// CertNotAfter is the earliest expiry of the chain a TLS handshake saw.
	CertNotAfter *time.Time `json:"cert_not_after,omitempty"`
	CertIssuer   string     `json:"cert_issuer,omitempty"`
	// FailedStep is the journey step a failed run failed at, and
	// FailedAssertion the first assertion that failed, as written in the
	// check (GET …/results only; absent when none).
	FailedStep      string `json:"failed_step,omitempty"`
	FailedAssertion string `json:"failed_assertion,omitempty"`
}

func resultJSON(r store.ResultRow) ResultJSON {
	out := ResultJSON{
		ResultID: r.ResultID, Location: r.Location, ScheduledAt: r.ScheduledAt.UTC(), StartedAt: r.StartedAt.UTC(),
		Success: r.Success, HTTPStatus: r.HTTPStatus, FailureClass: r.FailureClass, FailureMessage: r.FailureMessage,
		DurationMS: r.DurationMS, TTFBMS: r.TTFBMS, Attempts: r.Attempts,
		FailedStep: r.FailedStep, FailedAssertion: r.FailedAssertion,
		PhasesMS: PhasesJSON{DNS: r.DNSMS, Connect: r.ConnectMS, TLS: r.TLSMS, Processing: r.ProcessingMS, Transfer: r.TransferMS},
	}
	if r.CertNotAfter.Unix() > 0 {
		t := r.CertNotAfter.UTC()
		out.CertNotAfter, out.CertIssuer = &t, r.CertIssuer
	}
	return out
}

// LocationStateJSON is a check's state at one location, from its newest result.
type LocationStateJSON struct {
	Location    string      `json:"location"`
	State       string      `json:"state"`
	LastResult  ResultJSON  `json:"last_result"`
	LastFailure *ResultJSON `json:"last_failure"`
}

// RuleStateJSON is a rule's state: its newest transition.
type RuleStateJSON struct {
	Rule             string    `json:"rule"`
	Kind             string    `json:"kind"`
	State            string    `json:"state"`
	Since            time.Time `json:"since"`
	Summary          string    `json:"summary"`
	Message          string    `json:"message"`
	FailingLocations []string  `json:"failing_locations"`
}

// CheckJSON is one check of GET /api/v1/checks, as its newest results show
// it. The target a check probes is not stored with its results, so it is
// not here.
type CheckJSON struct {
	ID             string              `json:"id"`
	Name           string              `json:"name"`
	Type           string              `json:"type"`
	IntervalSecs   float64             `json:"interval_seconds"`
	Labels         map[string]string   `json:"labels"`
	Locations      []string            `json:"locations"`
	LastSeen       time.Time           `json:"last_seen"`
	State          string              `json:"state"`
	Rules          []RuleStateJSON     `json:"rules"`
	LocationStates []LocationStateJSON `json:"location_states"`
	LastResult     *ResultJSON         `json:"last_result"`
	LastFailure    *ResultJSON         `json:"last_failure"`
	// Target is what the check probes, from its definition as last
	// published; empty when that is not known (SetDefinitions).
	Target string `json:"target,omitempty"`
	// Definition is the check's definition as last published, credentials
	// redacted (GET /api/v1/checks/{id} only).
	Definition map[string]any `json:"definition,omitempty"`
}

// catalog is every check with a result since since (of ids, when given),
// with its state, by id.
func (a *API) catalog(ctx context.Context, since time.Time, ids []string) ([]CheckJSON, error) {
	latest, transitions, asOf, err := a.catalogRows(ctx, since, ids)
	if err != nil {
		return nil, err
	}
	rules := map[string][]RuleStateJSON{}
	for _, t := range transitions {
		fl := t.FailingLocations
		if fl == nil {
			fl = []string{}
		}
		rules[t.CheckID] = append(rules[t.CheckID], RuleStateJSON{Rule: t.Rule, Kind: t.Kind, State: t.State,
			Since: t.At.UTC(), Summary: t.Summary, Message: t.Message, FailingLocations: fl})
	}
	var out []CheckJSON
	for _, lr := range latest { // by check, then location
		if len(out) == 0 || out[len(out)-1].ID != lr.CheckID {
			out = append(out, CheckJSON{ID: lr.CheckID, Locations: []string{}, Rules: rules[lr.CheckID],
				LocationStates: []LocationStateJSON{}})
		}
		c := &out[len(out)-1]
		res := resultJSON(lr.ResultRow)
		ls := LocationStateJSON{Location: lr.Location, LastResult: res, State: StateUp}
		if lr.LastFailure != nil {
			f := resultJSON(*lr.LastFailure)
			ls.LastFailure = &f
			if c.LastFailure == nil || f.ScheduledAt.After(c.LastFailure.ScheduledAt) {
				c.LastFailure = &f
			}
		}
		interval := time.Duration(lr.IntervalMS) * time.Millisecond
		switch {
		case interval > 0 && asOf.Sub(lr.ScheduledAt) > staleIntervals*interval+storeLag:
			ls.State = StateStale
		case !lr.Success && lr.FailureClass != store.OverloadClass:
			ls.State = StateDown
		}
		c.Locations = append(c.Locations, lr.Location)
		c.LocationStates = append(c.LocationStates, ls)
		if c.LastResult == nil || res.ScheduledAt.After(c.LastResult.ScheduledAt) {
			// The newest result names the check as it is defined now.
			r := res
			c.LastResult, c.LastSeen = &r, res.ScheduledAt
			c.Name, c.Type, c.Labels = lr.CheckName, lr.CheckType, lr.Labels
			c.IntervalSecs = interval.Seconds()
		}
	}
	for i := range out {
		c := &out[i]
		if c.Rules == nil {
			c.Rules = []RuleStateJSON{}
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.State = overallState(c.Rules, c.LocationStates)
	}
	return out, nil
}

// overallState is a check's one state: stale when no location reports any
// more; otherwise the worst of its rules' states (down, degraded, stale);
// a check without any transition yet takes its locations' newest results
// (down when all failed, degraded when some did).
func overallState(rules []RuleStateJSON, locs []LocationStateJSON) string {
	reporting, failing := 0, 0
	for _, l := range locs {
		if l.State != StateStale {
			reporting++
		}
		if l.State == StateDown {
			failing++
		}
	}
	if reporting == 0 {
		return StateStale
	}
	if len(rules) > 0 {
		rank := map[string]int{StateDown: 3, StateDegraded: 2, StateStale: 1}
		worst := StateUp
		for _, r := range rules {
			if rank[r.State] > rank[worst] {
				worst = r.State
			}
		}
		return worst
	}
	switch {
	case failing == reporting:
		return StateDown
	case failing > 0:
		return StateDegraded
	}
	return StateUp
}

// checkFilter is the label, state and search filters of the check list and
// the overview.
type checkFilter struct {
	labels labelSelector
	states []string
	// search is q, lower-cased: a check whose id or name contains it.
	search string
}

// maxSearch bounds q: a name is a line of config, not a document.
const maxSearch = 200

func parseCheckFilter(w http.ResponseWriter, r *http.Request) (checkFilter, bool) {
	q := r.URL.Query()
	sel, err := labelParam(q)
	if err != nil {
		badParam(w, "label", err.Error())
		return checkFilter{}, false
	}
	states := listParam(q, "state")
	if err := oneOf("state", states, checkStates...); err != nil {
		badParam(w, "state", err.Error())
		return checkFilter{}, false
	}
	search := q.Get("q")
	if n := utf8.RuneCountInString(search); n > maxSearch {
		badParam(w, "q", fmt.Sprintf("q has %d characters: at most %d", n, maxSearch))
		return checkFilter{}, false
	}
	return checkFilter{labels: sel, states: states, search: strings.ToLower(search)}, true
}

func (f checkFilter) keep(c CheckJSON) bool {
	if !f.labels.matches(c.Labels) {
		return false
	}
	if f.search != "" && !strings.Contains(strings.ToLower(c.ID), f.search) && !strings.Contains(strings.ToLower(c.Name), f.search) {
		return false
	}
	if len(f.states) == 0 {
		return true
	}
	for _, s := range f.states {
		if s == c.State {
			return true
		}
	}
	return false
}

// checkCursor is the position of a check in a list by id.
type checkCursor struct {
	After string `json:"after"`
}

// page keeps the checks of f after the cursor, at most limit, and the
// cursor of the next page ("" on the last).
func page(w http.ResponseWriter, r *http.Request, all []CheckJSON, f checkFilter, limit int) ([]CheckJSON, string, bool) {
	var after string
	if s := r.URL.Query().Get("cursor"); s != "" {
		var c checkCursor
		if err := decodeCursor(s, &c); err != nil {
			badParam(w, "cursor", err.Error())
			return nil, "", false
		}
		after = c.After
	}
	out := []CheckJSON{}
	for _, c := range all {
		if c.ID <= after && after != "" || !f.keep(c) {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor(checkCursor{After: out[len(out)-1].ID}), true
		}
		out = append(out, c)
	}
	return out, "", true
}

// CheckListJSON is the body of GET /api/v1/checks.
type CheckListJSON struct {
	Checks     []CheckJSON `json:"checks"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (a *API) checks(w http.ResponseWriter, r *http.Request) {
	out, next, ok := a.checkPage(w, r, a.now(), 10000, 10000)
	if !ok {
		return
	}
	a.describe(out, false)
	writeJSON(w, CheckListJSON{Checks: out, NextCursor: next})
}

// checkPage reads the parameters the check list and the overview share
// (window or from/to, label and state filters, limit up to maxLimit, cursor)
// and returns that page of the checks with results in the window; false
// means it answered the request with a problem. The window is a lookback,
// by default and at most checkLookback: a check silent for longer than
// staleIntervals of its intervals but heard from in it is listed, stale.
func (a *API) checkPage(w http.ResponseWriter, r *http.Request, now time.Time, defLimit, maxLimit int) ([]CheckJSON, string, bool) {
	q := r.URL.Query()
	from, _, param, err := timeRange(q, now, checkLookback)
	if err != nil {
		badParam(w, param, err.Error())
		return nil, "", false
	}
	if oldest := now.Add(-checkLookback); from.Before(oldest) {
		from = oldest // what is kept of the newest results
	}
	f, ok := parseCheckFilter(w, r)
	if !ok {
		return nil, "", false
	}
	limit, err := intParam(q, "limit", defLimit, 1, maxLimit)
	if err != nil {
		badParam(w, "limit", err.Error())
		return nil, "", false
	}
	all, err := a.catalog(r.Context(), from, nil)
	if err != nil {
		a.internal(w, r, err)
		return nil, "", false
	}
	return page(w, r, all, f, limit)
}

// checkLookback is how far back the check list, the overview and GET
// /api/v1/checks/{id} look for a check's newest results: the raw rows'
// retention, which check_latest shares. A check silent for longer is left
// out of the list (GET /api/v1/checks/{id} still knows it from its rollups).
const checkLookback = 30 * 24 * time.Hour

func (a *API) check(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "checkID")
	cs, err := a.catalog(r.Context(), a.now().Add(-checkLookback), []string{id})
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if len(cs) == 0 {
		if !a.knownCheck(w, r, id) {
			return
		}
		// Known from its rollups only: its raw rows are past their TTL.
		cs = []CheckJSON{{ID: id, Labels: map[string]string{}, Locations: []string{}, State: StateStale,
			Rules: []RuleStateJSON{}, LocationStates: []LocationStateJSON{}}}
	}
	a.describe(cs[:1], true)
	writeJSON(w, cs[0])
}

// knownCheck answers 404 (and false) unless a result of id was ever stored.
func (a *API) knownCheck(w http.ResponseWriter, r *http.Request, id string) bool {
	known, err := a.store.KnownCheck(r.Context(), id)
	if err != nil {
		a.internal(w, r, err)
		return false
	}
	if !known {
		writeProblem(w, Problem{Status: http.StatusNotFound, Title: "Unknown check",
			Detail: fmt.Sprintf("no result of check %q was ever stored", id)})
		return false
	}
	return true
}
