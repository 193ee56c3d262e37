package alert

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// slo is a burn_rate rule on objective with the workbook's windows.
func slo(objective float64, minSamples int) []NamedRule {
	return []NamedRule{{Name: "slo", Rule: Rule{Kind: KindBurnRate, Objective: objective, MinSamples: minSamples}}}
}

// history is one location's results every interval from start, n of them,
// failing where fail says.
func history(loc string, start time.Time, interval time.Duration, n int, fail func(i int) bool) []Sample {
	out := make([]Sample, n)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		out[i] = Sample{ResultID: fmt.Sprintf("%s@%d", loc, at.Unix()), Location: loc, At: at, Interval: interval,
			Success: !fail(i), Duration: 100 * time.Millisecond}
	}
	return out
}

// stamps is "state@offset from start" of each transition.
func stamps(trs []*Transition, start time.Time) string {
	var s []string
	for _, t := range trs {
		s = append(s, t.To+"@"+t.At.Sub(start).String())
	}
	return strings.Join(s, " ")
}

// A fast burn — a check every 10 s failing outright for 10 minutes after
// three healthy days, under 99.9 % — pages at its sixth failure (1h burn
// 6/360 over the 0.1 % budget reaches 14.4), stays down while the 6h/30m
// pair burns, drops to a ticket once the 30-minute window has let the
// outage go, and closes once the 6-hour window has.
func TestBurnRateFastBurnPagesThenTickets(t *testing.T) {
	start := t0.Add(-72 * time.Hour)
	outage := t0
	tr := NewTracker("api", "API", slo(0.999, 0), Options{})
	n := int((72*time.Hour + 8*time.Hour) / (10 * time.Second))
	samples := history("eu", start, 10*time.Second, n, func(i int) bool {
		at := start.Add(time.Duration(i) * 10 * time.Second)
		return !at.Before(outage) && at.Before(outage.Add(10*time.Minute))
	})
	got := feed(tr, samples)
	if len(got) != 3 {
		t.Fatalf("transitions %s, want down, degraded, up", stamps(got, outage))
	}
	down, ticket, up := got[0], got[1], got[2]
	if down.To != StateDown || !down.At.Equal(outage.Add(50*time.Second)) {
		t.Fatalf("page %s, want down at the sixth failure (+50s)", stamps(got[:1], outage))
	}
	if want := "Website API is down. burn rate 16.7× over 1h and 200.0× over 5m (page threshold 14.4×), objective 99.9%, time=" +
		down.At.Format(time.RFC3339); down.Message != want {
		t.Fatalf("message\n%s\nwant\n%s", down.Message, want)
	}
	if down.Unit != "burn_rate" || down.Value < 14.4 || down.Burn.Long != time.Hour || down.Samples != 360 || down.Successes != 354 {
		t.Fatalf("evidence value %v %s, burn %+v, %d/%d", down.Value, down.Unit, down.Burn, down.Successes, down.Samples)
	}
	// The results: the outage's first failure opened the burn, the sixth
	// decided the page; the ticket is the same burn; the recovery is
	// decided by the result it happened at.
	firstFailure := fmt.Sprintf("eu@%d", outage.Unix())
	if down.FirstResultID != firstFailure || down.LastResultID != fmt.Sprintf("eu@%d", down.At.Unix()) {
		t.Fatalf("page results first %q last %q, want first %q", down.FirstResultID, down.LastResultID, firstFailure)
	}
	if ticket.FirstResultID != firstFailure || up.FirstResultID == "" || up.FirstResultID != up.LastResultID {
		t.Fatalf("ticket's first result %q (want %q); recovery's first %q, last %q", ticket.FirstResultID, firstFailure,
			up.FirstResultID, up.LastResultID)
	}
	// The 30-minute window forgets the outage 29 to 30 minutes after it ended.
	end := outage.Add(10 * time.Minute)
	if d := ticket.At.Sub(end); ticket.To != StateDegraded || d < 29*time.Minute || d > 30*time.Minute {
		t.Fatalf("ticket %s, want degraded 29..30 minutes after the outage", stamps(got, outage))
	}
	if !strings.Contains(ticket.Message, "over 3d and ") || !strings.Contains(ticket.Message, "(ticket threshold 1×)") {
		t.Fatalf("ticket message %q", ticket.Message)
	}
	if d := up.At.Sub(end); up.To != StateUp || d < 5*time.Hour+54*time.Minute || d > 6*time.Hour {
		t.Fatalf("recovery %s, want up 5h54m..6h after the outage", stamps(got, outage))
	}
}

// A slow burn — one failed result in 200 (0.5 %, 5× the budget) — never
// pages (5× is below both page factors) and opens a ticket once the 3-day
// window holds 26 failures: 0.1 % of its 25,920 results.
func TestBurnRateSlowBurnOnlyTickets(t *testing.T) {
	start := t0.Add(-72 * time.Hour)
	healthy := int(72 * time.Hour / (10 * time.Second))
	tr := NewTracker("api", "API", slo(0.999, 0), Options{})
	got := feed(tr, history("eu", start, 10*time.Second, healthy+8000, func(i int) bool {
		return i >= healthy && (i-healthy)%200 == 199
	}))
	want := t0.Add(time.Duration(199+25*200) * 10 * time.Second)
	if len(got) != 1 || got[0].To != StateDegraded || !got[0].At.Equal(want) {
		t.Fatalf("transitions %s, want only degraded at the 26th failure (%s)", stamps(got, t0), want.Sub(t0))
	}
	if !strings.Contains(got[0].Message, "is degraded. burn rate 1.0× over 3d and 5.") {
		t.Fatalf("message %q", got[0].Message)
	}
	// The burn opened at the third failure: from it on the 6-hour window
	// burns at 1× (3 failures of 2,160 results) and never stops; each
	// failure before it burned the 5-minute window for 5 minutes only.
	third := fmt.Sprintf("eu@%d", t0.Add(time.Duration(199+2*200)*10*time.Second).Unix())
	if got[0].FirstResultID != third || got[0].LastResultID != fmt.Sprintf("eu@%d", want.Unix()) {
		t.Fatalf("ticket's results first %q last %q, want first %q", got[0].FirstResultID, got[0].LastResultID, third)
	}
}

// A check every 5 minutes holds 12 results an hour: one failure is 8 % of
// its hour, 83× a 99.9 % budget. The minimum-event guard (by default the
// fewest results in which one failure cannot reach the factor, 70 for
// 1h/5m) keeps it from paging on a single failure; with the guard at 1 the
// same history pages.
func TestBurnRateLowRateCheckUnderMinSamplesNeverPages(t *testing.T) {
	start := t0.Add(-72 * time.Hour)
	n := int(76 * time.Hour / (5 * time.Minute))
	fail := func(i int) bool { return i == n-24 || i == n-23 } // two failures 2 hours before the end
	for _, tc := range []struct {
		min  int
		want string
	}{{0, ""}, {1000, ""}, {1, "down,degraded"}} {
		tr := NewTracker("api", "API", slo(0.999, tc.min), Options{})
		if got := states(feed(tr, history("eu", start, 5*time.Minute, n, fail))); got != tc.want {
			t.Errorf("min_samples %d: transitions %q, want %q", tc.min, got, tc.want)
		}
	}
}

// Two locations' results, shuffled within the lateness and partly
// repeated, give the same transitions with the same ids as in order.
func TestBurnRateOutOfOrderAndReplayGiveTheInOrderTransitions(t *testing.T) {
	start := t0.Add(-6 * time.Hour)
	rules := []NamedRule{{Name: "slo", Rule: Rule{Kind: KindBurnRate, Objective: 0.99, Windows: []BurnWindow{
		{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4},
		{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 3, State: StateDegraded},
	}}}}
	var samples []Sample
	for _, loc := range []string{"eu", "us"} {
		samples = append(samples, history(loc, start, 10*time.Second, int(8*time.Hour/(10*time.Second)), func(i int) bool {
			return i%97 == 0 || i > 2500 && i < 2500+60 || loc == "us" && i > 2200 && i < 2230
		})...)
	}
	sortSamples(samples)
	ref := NewTracker("api", "API", rules, Options{Lateness: 30 * time.Second})
	inOrder := append(feed(ref, samples), ref.Flush()...)
	if len(inOrder) < 3 {
		t.Fatalf("in order: %s, want a page, a ticket and a recovery at least", stamps(inOrder, start))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var shuffled []Sample
	for i, s := range samples {
		shuffled = append(shuffled, s)
		if i%50 == 0 {
			shuffled = append(shuffled, s) // replayed
		}
	}
	keys := make([]float64, len(shuffled))
	for i, s := range shuffled { // displaced by up to 20 s, under the 30 s lateness
		keys[i] = float64(s.At.Unix()) + 20*rng.Float64()
	}
	sortByKey(shuffled, keys)
	tr := NewTracker("api", "API", rules, Options{Lateness: 30 * time.Second})
	got := feed(tr, shuffled)
	got = append(got, tr.Flush()...)
	if a, b := ids(got), ids(inOrder); a != b {
		t.Fatalf("shuffled and replayed:\n%s\nin order:\n%s", a, b)
	}
	for i := range got {
		if got[i].FirstResultID != inOrder[i].FirstResultID || got[i].FirstResultID == "" {
			t.Errorf("transition %d: first result %q shuffled, %q in order", i, got[i].FirstResultID, inOrder[i].FirstResultID)
		}
	}
}

func ids(trs []*Transition) string {
	var s []string
	for _, t := range trs {
		s = append(s, t.EventID+" "+t.Message)
	}
	return strings.Join(s, "\n")
}

// A tracker restored at R — the minutes before the restore horizon counted
// from their per-minute totals (as the minute rollup holds them), the
// results of the horizon evaluated again under Quiet, the state as recorded
// up to R — emits exactly the transitions after R of a tracker that saw
// every result.
func TestBurnRateSeededFromMinutesGivesTheSameTransitions(t *testing.T) {
	start := t0.Add(-72 * time.Hour)
	healthy := int(72 * time.Hour / (10 * time.Second))
	samples := history("eu", start, 10*time.Second, healthy+8000, func(i int) bool {
		return i >= healthy && (i-healthy)%200 == 199 || i > healthy+6000 && i < healthy+6060
	})
	all := feed(NewTracker("api", "API", slo(0.999, 0), Options{}), samples)
	if len(all) < 3 {
		t.Fatalf("transitions %s: want a ticket, a page and more", stamps(all, t0))
	}
	const horizon = 10 * time.Minute
	for _, restart := range []time.Time{t0.Add(10 * time.Hour), all[0].At.Add(-3 * time.Minute), all[0].At.Add(2 * time.Minute),
		all[1].At.Add(-time.Minute), all[2].At} {
		from := restart.Add(-horizon).Truncate(time.Minute)
		st := map[string]State{}
		var want []*Transition
		for _, tr := range all {
			if tr.At.After(restart) {
				want = append(want, tr)
			} else {
				st["slo"] = State{State: tr.To, Since: tr.At}
			}
		}
		tr := NewTracker("api", "API", slo(0.999, 0), Options{States: st})
		type minute struct{ runs, ok uint64 }
		mins := map[time.Time]*minute{}
		var order []time.Time
		var after []Sample
		for _, s := range samples {
			if !s.At.Before(from) {
				after = append(after, s)
				continue
			}
			m := s.At.Truncate(time.Minute)
			if mins[m] == nil {
				mins[m] = &minute{}
				order = append(order, m)
			}
			mins[m].runs++
			if s.Success {
				mins[m].ok++
			}
		}
		for _, m := range order {
			tr.SeedMinute("eu", m, mins[m].runs, mins[m].ok)
		}
		tr.Quiet(from.Add(tr.Lookback(10 * time.Second)))
		if a, b := ids(feed(tr, after)), ids(want); a != b {
			t.Errorf("restored at %s:\n%s\nwant\n%s", restart.Sub(t0), a, b)
		}
	}
}

func TestBurnRateValidation(t *testing.T) {
	w := func(ws ...BurnWindow) Rule { return Rule{Kind: KindBurnRate, Objective: 0.999, Windows: ws} }
	tests := []struct {
		rule Rule
		want string
	}{
		{Rule{Kind: KindBurnRate, Objective: 1.2}, "alerting.rules.slo.objective: 1.2 must be in (0, 1), e.g. 0.999"},
		{Rule{Kind: KindBurnRate}, "alerting.rules.slo.objective: 0 must be in (0, 1), e.g. 0.999"},
		{w(BurnWindow{Long: time.Hour, Short: 0, Factor: 2}), "alerting.rules.slo.windows[0].short: 0s must be positive"},
		{w(BurnWindow{Long: time.Hour, Short: 5 * time.Minute, Factor: 2}, BurnWindow{Long: 90 * time.Second, Short: time.Minute, Factor: 2}),
			"alerting.rules.slo.windows[1].long: 1m30s must be a whole number of minutes (the counters' buckets)"},
		{w(BurnWindow{Long: 100 * 24 * time.Hour, Short: time.Hour, Factor: 1}), "alerting.rules.slo.windows[0].long: 2400h0m0s must be at most 2160h0m0s (the minute rollups' retention, which a restore reads)"},
		{w(BurnWindow{Long: time.Hour, Short: time.Hour, Factor: 2}), "alerting.rules.slo.windows[0].short: 1h0m0s must be shorter than long (1h0m0s)"},
		{w(BurnWindow{Long: time.Hour, Short: 5 * time.Minute}), "alerting.rules.slo.windows[0].factor: 0 must be positive"},
		{w(BurnWindow{Long: time.Hour, Short: 5 * time.Minute, Factor: 2000}), "alerting.rules.slo.windows[0].factor: 2000 × the error budget 0.001 is an error rate above 100 %: the pair could never open"},
		{w(BurnWindow{Long: time.Hour, Short: 5 * time.Minute, Factor: 2, State: "stale"}), `alerting.rules.slo.windows[0].state: "stale" must be down or degraded`},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		c.RestoreHorizon = 3000 * time.Hour // the rule's errors, not the horizon's
		c.Rules = map[string]Rule{"slo": tc.rule}
		if err := c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: error %v\nwant %s", tc.rule, err, tc.want)
		}
	}
	// The workbook's 3-day window needs no 3-day restore horizon: its
	// counters are restored from the minute rollups.
	c := DefaultConfig()
	c.Rules = map[string]Rule{"slo": {Kind: KindBurnRate, Objective: 0.999}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.MaxBurnWindow() != 72*time.Hour {
		t.Fatalf("max burn window %s", c.MaxBurnWindow())
	}
	// An override inherits the objective and windows it does not set.
	c.Checks = map[string]CheckRules{"api": {Rules: map[string]Rule{"slo": {Objective: 0.99}}}}
	if r := c.For("api")[0]; r.Kind != KindBurnRate || r.Objective != 0.99 || len(r.burnWindows()) != 3 {
		t.Fatalf("override %+v", r)
	}
}

// BenchmarkEvaluationPerResult is the cost of evaluating one result of a
// check every 10 s in one location, under a burn_rate rule with the
// workbook's three pairs (five windows, up to 3 days, as counters) next to
// the seed's availability rule over 2 minutes and an availability rule
// over 1 hour (results held and scanned), in the same process:
//
//	go test -run '^$' -bench EvaluationPerResult ./services/aggregator/alert/
func BenchmarkEvaluationPerResult(b *testing.B) {
	for _, bc := range []struct {
		name  string
		rules []NamedRule
	}{
		{"availability-2m", availability(0.8, 2*time.Minute)},
		{"availability-1h", availability(0.99, time.Hour)},
		{"burn_rate-workbook", slo(0.999, 0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := NewTracker("api", "API", bc.rules, Options{})
			// Three days of history first: the windows are full.
			warm := history("eu", t0.Add(-72*time.Hour), 10*time.Second, int(72*time.Hour/(10*time.Second)), func(i int) bool { return i%97 == 0 })
			for _, s := range warm {
				tr.Add(s)
			}
			tr.Flush()
			next := history("eu", t0, 10*time.Second, b.N, func(i int) bool { return i%97 == 0 })
			b.ReportAllocs()
			b.ResetTimer()
			for _, s := range next {
				tr.Add(s)
				tr.Flush()
			}
		})
	}
}

// Memory per location is O(window/bucket): at most 60 buckets per window,
// whatever its length and the check's rate (215 for the workbook's five).
func TestBurnRateCountersAreBoundedPerWindow(t *testing.T) {
	total := 0
	for _, w := range []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour, 72 * time.Hour} {
		g := newRing(w)
		if len(g.slots) > 60 || time.Duration(int64(len(g.slots))*g.bucket)*time.Minute < w {
			t.Errorf("%s: %d buckets of %d minutes", w, len(g.slots), g.bucket)
		}
		total += len(g.slots)
	}
	if sp := newBurnSpec(Rule{Kind: KindBurnRate, Objective: 0.999}); len(sp.windows) != 5 || total != 215 {
		t.Fatalf("%d windows, %d buckets", len(sp.windows), total)
	}
}
