package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/picket-dev/picket/platform/store"
)

// SLO is one service level objective as configured (the query service's
// slos[] and `picket dev`'s).
type SLO struct {
	// Name identifies the SLO in /api/v1/slos/{name}: letters, digits, '.',
	// '_' and '-'.
	Name string `koanf:"name"`
	// Checks are check ids the SLO covers.
	Checks []string `koanf:"checks"`
	// Labels are key:value matchers (team:payments): the SLO also covers
	// every check that carries all of them: in its definition as last
	// published, else in its newest result in the window (at most 30 days).
	Labels []string `koanf:"labels"`
	// Objective is the fraction of good events promised, above 0 and below 1
	// (0.999).
	Objective float64 `koanf:"objective"`
	// Window is the rolling window the objective is over, ending now: whole
	// days (30d) or a Go duration (720h), at most 90d. Default 30d.
	Window string `koanf:"window"`
	// Budgeting is occurrences (results) or timeslices (minutes in which no
	// location succeeded). Default occurrences.
	Budgeting string `koanf:"budgeting"`
	// Slice is a time slice's length for timeslices: whole minutes from 1m to
	// 5m. Default 1m.
	Slice time.Duration `koanf:"slice"`
}

// Defaults of an SLO's optional keys.
const (
	DefaultSLOWindow = "30d"
	DefaultSLOSlice  = time.Minute
)

// slo is an SLO as served: its defaults filled in, its window parsed.
type slo struct {
	SLO
	window time.Duration
}

var sloName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// ValidateSLOs checks slos, naming the offending key under prefix (slos):
// slos[2].objective.
func ValidateSLOs(prefix string, slos []SLO) error {
	seen := map[string]int{}
	for i, s := range slos {
		key := fmt.Sprintf("%s[%d]", prefix, i)
		s, window := s.withDefaults()
		switch {
		case !sloName.MatchString(s.Name):
			return fmt.Errorf("%s.name: %q: want 1 to 100 letters, digits, '.', '_' or '-'", key, s.Name)
		case len(s.Checks) == 0 && len(s.Labels) == 0:
			return fmt.Errorf("%s: select checks with checks, labels or both", key)
		case !(s.Objective > 0 && s.Objective < 1):
			return fmt.Errorf("%s.objective: %v: want a fraction above 0 and below 1, like 0.999", key, s.Objective)
		case window <= 0 || window > store.MaxSLOWindow:
			return fmt.Errorf("%s.window: %q: want whole days or a Go duration (30d, 720h), at most 90d (the minute rollups' retention)", key, s.Window)
		case s.Budgeting != string(store.Occurrences) && s.Budgeting != string(store.Timeslices):
			return fmt.Errorf("%s.budgeting: %q: want occurrences or timeslices", key, s.Budgeting)
		case s.Slice < time.Minute || s.Slice > 5*time.Minute || s.Slice%time.Minute != 0:
			return fmt.Errorf("%s.slice: %s: want whole minutes from 1m to 5m (the shortest burn window)", key, s.Slice)
		}
		if j, dup := seen[s.Name]; dup {
			return fmt.Errorf("%s.name: %q is already the name of %s[%d]", key, s.Name, prefix, j)
		}
		seen[s.Name] = i
		for j, c := range s.Checks {
			if c == "" {
				return fmt.Errorf("%s.checks[%d]: must not be empty", key, j)
			}
		}
		for j, l := range s.Labels {
			if k, _, ok := strings.Cut(l, ":"); !ok || k == "" {
				return fmt.Errorf("%s.labels[%d]: %q: want key:value, like team:payments", key, j, l)
			}
		}
		if _, err := s.selector(); err != nil {
			return fmt.Errorf("%s.labels: %w", key, err)
		}
	}
	return nil
}

// withDefaults is s with the defaults of its optional keys, and its window
// (0 when it does not parse).
func (s SLO) withDefaults() (SLO, time.Duration) {
	if s.Window == "" {
		s.Window = DefaultSLOWindow
	}
	if s.Budgeting == "" {
		s.Budgeting = string(store.Occurrences)
	}
	if s.Slice == 0 {
		s.Slice = DefaultSLOSlice
	}
	window, err := parseWindow(s.Window)
	if err != nil {
		window = 0
	}
	return s, window
}

func (s SLO) selector() (labelSelector, error) {
	return labelParam(map[string][]string{"label": s.Labels})
}

// covers says whether the SLO covers a check with these labels.
func (s SLO) covers(checkID string, labels map[string]string, sel labelSelector) bool {
	return slices.Contains(s.Checks, checkID) || (len(sel) > 0 && labels != nil && sel.matches(labels))
}

// SetSLOs makes the API serve slos (validated with ValidateSLOs, under the
// key slos). Call it before Handler.
func (a *API) SetSLOs(slos []SLO) error {
	if err := ValidateSLOs("slos", slos); err != nil {
		return err
	}
	a.slos = make([]slo, len(slos))
	for i, s := range slos {
		a.slos[i].SLO, a.slos[i].window = s.withDefaults()
	}
	return nil
}

// SLOJSON is one SLO with its figures.
type SLOJSON struct {
	Name      string  `json:"name"`
	Objective float64 `json:"objective"`
	// WindowSeconds is the rolling window's length; From and To are the span
	// counted (time slices: whole slices, the last one holding now).
	WindowSeconds float64      `json:"window_seconds"`
	From          time.Time    `json:"from"`
	To            time.Time    `json:"to"`
	Budgeting     string       `json:"budgeting"`
	SliceSeconds  float64      `json:"slice_seconds,omitempty"`
	Selector      SelectorJSON `json:"selector"`
	// Total are the figures over every check the SLO covers (by time
	// slices, each slice once: bad when any check measured in it was bad);
	// Checks each one's, by id.
	Total  SLOFiguresJSON   `json:"total"`
	Checks []SLOFiguresJSON `json:"checks"`
}

// SelectorJSON is how an SLO selects its checks.
type SelectorJSON struct {
	Checks []string `json:"checks"`
	Labels []string `json:"labels"`
}

// SLOFiguresJSON are an SLO's figures over one check (CheckID) or all.
type SLOFiguresJSON struct {
	CheckID string `json:"check_id,omitempty"`
	// Good and Bad count events: results (occurrences) or slices (timeslices).
	Good uint64 `json:"good"`
	Bad  uint64 `json:"bad"`
	// Achieved is good / (good + bad); null without any event.
	Achieved    *float64        `json:"achieved"`
	ErrorBudget ErrorBudgetJSON `json:"error_budget"`
	BurnRates   BurnRatesJSON   `json:"burn_rates"`
}

// ErrorBudgetJSON is the error budget over the window: (1 − objective) of the
// events in it.
type ErrorBudgetJSON struct {
	// Unit of Total, Used and Remaining: events (occurrences: results) or
	// minutes (timeslices).
	Unit      string  `json:"unit"`
	Total     float64 `json:"total"`
	Used      float64 `json:"used"`
	Remaining float64 `json:"remaining"`
	// UsedFraction is Used / Total; RemainingFraction 1 − UsedFraction
	// (negative once overspent); both null when Total is 0 (no event).
	UsedFraction      *float64 `json:"used_fraction"`
	RemainingFraction *float64 `json:"remaining_fraction"`
}

// BurnRatesJSON are the error ratio over each window ending now divided by
// 1 − objective (1 spends the budget exactly over the SLO window); null for a
// window without any event.
type BurnRatesJSON struct {
	M5  *float64 `json:"5m"`
	M30 *float64 `json:"30m"`
	H1  *float64 `json:"1h"`
	H6  *float64 `json:"6h"`
	D3  *float64 `json:"3d"`
}

// SLOsJSON is the body of GET /api/v1/slos and /api/v1/checks/{id}/slos.
type SLOsJSON struct {
	SLOs []SLOJSON `json:"slos"`
}

func (a *API) listSLOs(w http.ResponseWriter, r *http.Request) {
	out, err := a.sloFigures(r.Context(), a.slos, "")
	if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, SLOsJSON{SLOs: out})
}

func (a *API) oneSLO(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	i := slices.IndexFunc(a.slos, func(s slo) bool { return s.Name == name })
	if i < 0 {
		writeProblem(w, Problem{Status: http.StatusNotFound, Title: "Unknown SLO",
			Detail: fmt.Sprintf("no SLO is named %q (see /api/v1/slos)", name)})
		return
	}
	out, err := a.sloFigures(r.Context(), a.slos[i:i+1], "")
	if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, out[0])
}

// checkSLOs answers the SLOs covering a check, each with the figures over
// all its checks (Total) and the check's own (Checks, only that one).
func (a *API) checkSLOs(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "checkID")
	known, err := a.store.KnownCheck(r.Context(), id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if !known {
		writeProblem(w, Problem{Status: http.StatusNotFound, Title: "Unknown check",
			Detail: fmt.Sprintf("no result of check %q was ever stored", id)})
		return
	}
	out, err := a.sloFigures(r.Context(), a.slos, id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, SLOsJSON{SLOs: out})
}

// sloFigures computes slos' figures; with only set, it keeps the SLOs
// covering that check, and of their per-check figures only its.
func (a *API) sloFigures(ctx context.Context, slos []slo, only string) ([]SLOJSON, error) {
	now := a.now()
	// Every check's labels, also for one check's SLOs: their totals cover
	// every check they select, as /api/v1/slos/{name} counts them.
	labels, err := a.sloLabels(ctx, slos, now)
	if err != nil {
		return nil, err
	}
	out := []SLOJSON{}
	for _, s := range slos {
		sel, _ := s.selector() // validated by SetSLOs
		checks := slices.Clone(s.Checks)
		for id, l := range labels {
			if s.covers(id, l, sel) {
				checks = append(checks, id)
			}
		}
		slices.Sort(checks)
		checks = slices.Compact(checks)
		if only != "" && !s.covers(only, labels[only], sel) {
			continue
		}
		q := store.SLOQuery{Checks: checks, Budgeting: store.Budgeting(s.Budgeting), Slice: s.Slice, Window: s.window, Now: now}
		counts, err := a.store.SLOCounts(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("slo %s: %w", s.Name, err)
		}
		out = append(out, sloJSON(s, q, checks, counts, only))
	}
	return out, nil
}

// sloLabels are the labels of the checks, by id, for the SLOs that select
// by label: each check's as defined (its definition as last published),
// else those of its newest result over the longest such SLO window (at most
// the raw rows' 30 days). A check silent for longer is still found by its
// definition, and its rollups (90 days) count.
func (a *API) sloLabels(ctx context.Context, slos []slo, now time.Time) (map[string]map[string]string, error) {
	var since time.Duration
	for _, s := range slos {
		if len(s.Labels) > 0 {
			since = max(since, s.window)
		}
	}
	out := map[string]map[string]string{}
	if since == 0 {
		return out, nil
	}
	latest, err := a.store.LatestResults(ctx, now.Add(-min(since, store.OverviewMonth)), nil)
	if err != nil {
		return nil, err
	}
	newest := map[string]time.Time{}
	for _, r := range latest {
		if t, ok := newest[r.CheckID]; !ok || r.ScheduledAt.After(t) {
			newest[r.CheckID], out[r.CheckID] = r.ScheduledAt, r.Labels
		}
	}
	for id, d := range a.definedChecks() {
		out[id] = d.Labels
	}
	return out, nil
}

func sloJSON(s slo, q store.SLOQuery, checks []string, counts store.SLOResult, only string) SLOJSON {
	from, to := q.SLOSpan(s.window)
	out := SLOJSON{
		Name: s.Name, Objective: s.Objective, WindowSeconds: s.window.Seconds(), From: from, To: to,
		Budgeting: s.Budgeting, Selector: SelectorJSON{Checks: s.Checks, Labels: s.Labels}, Checks: []SLOFiguresJSON{},
	}
	if out.Selector.Checks == nil {
		out.Selector.Checks = []string{}
	}
	if out.Selector.Labels == nil {
		out.Selector.Labels = []string{}
	}
	if q.Budgeting == store.Timeslices {
		out.SliceSeconds = s.Slice.Seconds()
	}
	byID := map[string]store.SLOCounts{}
	for _, c := range counts.Checks {
		byID[c.CheckID] = c
	}
	out.Total = figures(s.SLO, counts.Total)
	for _, id := range checks {
		if only != "" && id != only {
			continue
		}
		c := byID[id]
		c.CheckID = id
		out.Checks = append(out.Checks, figures(s.SLO, c))
	}
	return out
}

// figures derives an SLO's figures from its counts.
func figures(s SLO, c store.SLOCounts) SLOFiguresJSON {
	out := SLOFiguresJSON{CheckID: c.CheckID, Good: c.Window.Good, Bad: c.Window.Bad}
	allowed := 1 - s.Objective
	unit, scale := "events", 1.0
	if s.Budgeting == string(store.Timeslices) {
		unit, scale = "minutes", s.Slice.Minutes()
	}
	n := c.Window.Good + c.Window.Bad
	b := ErrorBudgetJSON{Unit: unit}
	if n > 0 {
		out.Achieved = ptr(float64(c.Window.Good) / float64(n))
		b.Total = allowed * float64(n) * scale
		b.Used = float64(c.Window.Bad) * scale
		used := b.Used / b.Total
		b.Total, b.Remaining = roundSig(b.Total), roundSig(b.Total-b.Used)
		b.UsedFraction, b.RemainingFraction = ptr(used), ptr(1-used)
	}
	out.ErrorBudget = b
	burn := func(e store.SLOEvents) *float64 {
		if e.Good+e.Bad == 0 {
			return nil
		}
		return ptr(float64(e.Bad) / float64(e.Good+e.Bad) / allowed)
	}
	out.BurnRates = BurnRatesJSON{M5: burn(c.Burn[0]), M30: burn(c.Burn[1]), H1: burn(c.Burn[2]), H6: burn(c.Burn[3]), D3: burn(c.Burn[4])}
	return out
}

// ptr is v rounded to 12 significant digits (so that 1 − 0.999 shows as
// 0.001, not 0.0010000000000000009), by address.
func ptr(v float64) *float64 {
	r := roundSig(v)
	return &r
}

func roundSig(v float64) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	scale := math.Pow(10, 12-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}
