package alert

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// This file is the burn_rate kind: the SRE workbook's multi-window,
// multi-burn-rate alert (chapter 5, "Alerting on SLOs").
//
// The burn rate over a window is its error rate divided by the error budget
// (1 − objective): 1 spends the budget exactly over the objective's period,
// 14.4 spends 2 % of a 30-day budget in an hour. A pair opens when both its
// long window (is it significant?) and its short one (is it still
// happening?) burn at least its factor; the rule's state is the most severe
// state of the pairs that do.
//
// Windows are counted, not held: per location, each distinct window has a
// ring of per-bucket good/total counters, the bucket a whole number of
// minutes (window/60, at least 1), so memory is O(60) per window whatever its
// length and rate, and a restore rebuilds the counters of the minutes before
// its raw history from the minute rollups (check_rollup_1m). A window of W at
// event time T covers the buckets from the one W before T's to T's own: between
// W − bucket and W of history up to T.

// BurnWindow is one window pair of a burn_rate rule.
type BurnWindow struct {
	// Long is the window whose burn rate must be significant: a whole number
	// of minutes, at most 90 days (the minute rollups' retention).
	Long time.Duration `koanf:"long"`
	// Short is the window that must still burn, so a past burst stops
	// alerting soon after it ended: whole minutes, shorter than Long.
	Short time.Duration `koanf:"short"`
	// Factor is the burn rate both windows must reach.
	Factor float64 `koanf:"factor"`
	// State is what the pair opens: down (page) or degraded (ticket); empty
	// is the rule's state, down by default.
	State string `koanf:"state"`
}

// DefaultBurnWindows are the SRE workbook's recommended pairs for a 30-day
// objective: 2 % of the budget in an hour or 5 % in 6 hours page, 10 % in 3
// days tickets.
func DefaultBurnWindows() []BurnWindow {
	return []BurnWindow{
		{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, State: StateDown},
		{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6, State: StateDown},
		{Long: 72 * time.Hour, Short: 6 * time.Hour, Factor: 1, State: StateDegraded},
	}
}

// maxBurnWindow is the longest window a burn_rate rule may have: the minute
// rollups, which a restore rebuilds the counters from, are kept 90 days.
const maxBurnWindow = 90 * 24 * time.Hour

// burnWindows are the rule's pairs with defaults and states filled in.
func (r Rule) burnWindows() []BurnWindow {
	ws := r.Windows
	if len(ws) == 0 {
		ws = DefaultBurnWindows()
	}
	out := make([]BurnWindow, len(ws))
	for i, w := range ws {
		if w.State == "" {
			w.State = r.State
		}
		if w.State == "" {
			w.State = StateDown
		}
		out[i] = w
	}
	return out
}

func (r Rule) shortestBurnWindow() time.Duration {
	var s time.Duration
	for _, w := range r.burnWindows() {
		if s == 0 || w.Short < s {
			s = w.Short
		}
	}
	return s
}

// burnMinSamples is how many results the long window of pair w needs:
// MinSamples, or by default the fewest in which one failure alone burns
// below the factor (a check every minute never pages on 1h/5m at 14.4 and
// 99.9 % for a single failed run).
func (r Rule) burnMinSamples(w BurnWindow) int {
	if r.MinSamples > 0 {
		return r.MinSamples
	}
	budget := (1 - r.Objective) * w.Factor
	if budget <= 0 || budget >= 1 {
		return 1
	}
	return int(math.Floor(1/budget)) + 1
}

func (r Rule) validateBurn(bad func(key, format string, args ...any) error) error {
	if math.IsNaN(r.Objective) || r.Objective <= 0 || r.Objective >= 1 {
		return bad("objective", "%v must be in (0, 1), e.g. 0.999", r.Objective)
	}
	for i, w := range r.Windows {
		key := func(k string) string { return fmt.Sprintf("windows[%d].%s", i, k) }
		for _, d := range []struct {
			k string
			v time.Duration
		}{{"long", w.Long}, {"short", w.Short}} {
			switch {
			case d.v <= 0:
				return bad(key(d.k), "%s must be positive", d.v)
			case d.v%time.Minute != 0:
				return bad(key(d.k), "%s must be a whole number of minutes (the counters' buckets)", d.v)
			case d.v > maxBurnWindow:
				return bad(key(d.k), "%s must be at most %s (the minute rollups' retention, which a restore reads)", d.v, maxBurnWindow)
			}
		}
		if w.Short >= w.Long {
			return bad(key("short"), "%s must be shorter than long (%s)", w.Short, w.Long)
		}
		if math.IsNaN(w.Factor) || w.Factor <= 0 {
			return bad(key("factor"), "%v must be positive", w.Factor)
		}
		if rate := w.Factor * (1 - r.Objective); rate > 1 {
			return bad(key("factor"), "%v × the error budget %s is an error rate above 100 %%: the pair could never open",
				w.Factor, strconv.FormatFloat(math.Round((1-r.Objective)*1e9)/1e9, 'g', -1, 64))
		}
		switch w.State {
		case "", StateDown, StateDegraded:
		default:
			return bad(key("state"), "%q must be down or degraded", w.State)
		}
	}
	return nil
}

// burnSpec is a burn_rate rule prepared for evaluation: its pairs, and the
// distinct windows they count over.
type burnSpec struct {
	pairs []burnPair
	// windows are the distinct durations, each with one ring per location.
	windows []time.Duration
}

type burnPair struct {
	BurnWindow
	long, short int // indexes into windows
	minSamples  int
}

func newBurnSpec(r Rule) *burnSpec {
	sp := &burnSpec{}
	index := func(d time.Duration) int {
		for i, w := range sp.windows {
			if w == d {
				return i
			}
		}
		sp.windows = append(sp.windows, d)
		return len(sp.windows) - 1
	}
	for _, w := range r.burnWindows() {
		sp.pairs = append(sp.pairs, burnPair{BurnWindow: w, long: index(w.Long), short: index(w.Short),
			minSamples: r.burnMinSamples(w)})
	}
	return sp
}

func (sp *burnSpec) rings() []*ring {
	rs := make([]*ring, len(sp.windows))
	for i, w := range sp.windows {
		rs[i] = newRing(w)
	}
	return rs
}

// ring counts good and total results per bucket over one window, with the
// window's sums kept as buckets enter and leave it.
type ring struct {
	bucket      int64 // minutes
	slots       []counts
	head        int64 // the newest bucket's index (minutes since the epoch / bucket)
	started     bool
	good, total int64
}

type counts struct{ good, total uint32 }

func newRing(window time.Duration) *ring {
	minutes := int64(window / time.Minute)
	bucket := max(1, minutes/60)
	n := (minutes + bucket - 1) / bucket
	return &ring{bucket: bucket, slots: make([]counts, n)}
}

// advance makes minute's bucket the newest, emptying the buckets that left
// the window. A bucket older than the window is ignored (false).
func (g *ring) advance(minute int64) (int, bool) {
	b := minute / g.bucket
	n := int64(len(g.slots))
	if !g.started {
		g.head, g.started = b, true
	}
	if b > g.head {
		for k := g.head + 1; k <= min(b, g.head+n); k++ {
			s := &g.slots[k%n]
			g.good -= int64(s.good)
			g.total -= int64(s.total)
			*s = counts{}
		}
		g.head = b
	}
	if b <= g.head-n {
		return 0, false
	}
	return int(b % n), true
}

func (g *ring) add(minute int64, good, total uint32) {
	i, ok := g.advance(minute)
	if !ok {
		return
	}
	g.slots[i].good += good
	g.slots[i].total += total
	g.good += int64(good)
	g.total += int64(total)
}

// burn is the window's burn rate under budget (1 − objective).
func (g *ring) burn(budget float64) float64 {
	if g.total == 0 {
		return 0
	}
	return float64(g.total-g.good) / float64(g.total) / budget
}

// unixMinute is t's minute since the epoch, as toStartOfMinute buckets it.
func unixMinute(t time.Time) int64 {
	u := t.Unix()
	if u < 0 && u%60 != 0 {
		return u/60 - 1
	}
	return u / 60
}

// BurnEvidence is what a burn_rate transition was decided on: the pair that
// opened it (or, closing, the one closest to opening) and its burn rates.
type BurnEvidence struct {
	BurnWindow
	Objective      float64
	LongRate       float64
	ShortRate      float64
	LongResults    int
	LongSuccesses  int
	LongMinSamples int
	ShortResults   int
	ShortSuccesses int
}

// judgeBurn counts s into the location's rings and judges every pair.
func (r *ruleTrack) judgeBurn(lr *locRule, s Sample) {
	if lr.rings == nil {
		lr.rings = r.burn.rings()
	}
	good := uint32(0)
	if s.Success {
		good = 1
	}
	m := unixMinute(s.At)
	for _, g := range lr.rings {
		g.add(m, good, 1)
	}
	budget := 1 - r.Objective
	var best BurnEvidence
	bestScore, judged, severity := -1.0, false, ""
	for _, p := range r.burn.pairs {
		lg, sg := lr.rings[p.long], lr.rings[p.short]
		if lg.total < int64(p.minSamples) {
			continue // too few results for this pair: it says nothing
		}
		judged = true
		ev := BurnEvidence{BurnWindow: p.BurnWindow, Objective: r.Objective, LongRate: lg.burn(budget), ShortRate: sg.burn(budget),
			LongResults: int(lg.total), LongSuccesses: int(lg.good), LongMinSamples: p.minSamples,
			ShortResults: int(sg.total), ShortSuccesses: int(sg.good)}
		firing := ev.LongRate >= p.Factor && ev.ShortRate >= p.Factor
		// The evidence is the most severe firing pair, in order; with none
		// firing, the pair closest to firing.
		switch score := min(ev.LongRate, ev.ShortRate) / p.Factor; {
		case firing && (severity == "" || severity == StateDegraded && p.State == StateDown):
			severity, best = p.State, ev
		case severity == "" && score > bestScore:
			best, bestScore = ev, score
		}
	}
	// The burn's first failure: the one at which a short window began to
	// burn at its factor, forgotten once no short window does and the
	// location is not failing.
	shortBurning := false
	for _, p := range r.burn.pairs {
		shortBurning = shortBurning || lr.rings[p.short].burn(budget) >= p.Factor
	}
	if !s.Success && shortBurning && lr.burnFirst == "" {
		lr.burnFirst = s.ResultID
	}
	if !judged {
		return // too few results to judge: the verdict stands
	}
	if !lr.judged || severity != lr.severity {
		lr.verdictAt = s.ResultID
	}
	lr.judged = true
	lr.failing = severity != ""
	lr.severity = severity
	if !lr.failing && !shortBurning {
		lr.burnFirst = ""
	}
	// The first result is what opened the burn while failing (or, when the
	// failures that did are before a restore's raw horizon, the result the
	// verdict changed at), else the result the location stopped failing at.
	first := lr.verdictAt
	if lr.failing && lr.burnFirst != "" {
		first = lr.burnFirst
	}
	// Held in the location (no allocation per result); a transition copies it.
	lr.burnEv = best
	lr.ev = evidence{value: best.LongRate, samples: best.LongResults, successes: best.LongSuccesses, first: first, last: s.ResultID,
		availability: float64(best.LongSuccesses) / float64(max(1, best.LongResults)), hasAvailabilityData: true, burn: &lr.burnEv}
}

// seed counts a minute of stored history (the minute rollup) into the
// location's rings, before any result of the minutes after it.
func (r *ruleTrack) seed(loc string, minute time.Time, runs, successes uint32) {
	lr := r.locs[loc]
	if lr == nil {
		lr = &locRule{}
		r.locs[loc] = lr
	}
	if lr.rings == nil {
		lr.rings = r.burn.rings()
	}
	for _, g := range lr.rings {
		g.add(unixMinute(minute), successes, runs)
	}
}

// SeedMinute counts one minute of stored history of location loc (runs
// measured, successes) into the check's burn_rate rules. A restore calls it
// for the minutes before the raw results it reads, in minute order, before
// those results are evaluated; other kinds ignore it.
func (t *Tracker) SeedMinute(loc string, minute time.Time, runs, successes uint64) {
	for _, r := range t.rules {
		if r.burn != nil {
			r.seed(loc, minute, uint32(runs), uint32(successes))
		}
	}
}

// HasBurnRate reports whether any of the check's rules is burn_rate.
func (t *Tracker) HasBurnRate() bool {
	for _, r := range t.rules {
		if r.burn != nil {
			return true
		}
	}
	return false
}

// burnText is the message's measure of a burn_rate transition:
//
//	burn rate 16.2× over 1h and 21.0× over 5m (page threshold 14.4×), objective 99.9%
func burnText(b *BurnEvidence) string {
	kind := "page"
	if b.State == StateDegraded {
		kind = "ticket"
	}
	return fmt.Sprintf("burn rate %.1f× over %s and %.1f× over %s (%s threshold %s×), objective %s%%", b.LongRate,
		shortDuration(b.Long), b.ShortRate, shortDuration(b.Short), kind, trimFloat(b.Factor),
		strconv.FormatFloat(math.Round(b.Objective*1e8)/1e6, 'f', -1, 64))
}

// shortDuration writes whole days, hours or minutes as 3d, 6h, 90m.
func shortDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
