package alert

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func availability(threshold float64, window time.Duration) []NamedRule {
	return []NamedRule{{Name: "availability", Rule: Rule{Kind: KindAvailability, Threshold: threshold, Window: window}}}
}

// results are one location's results, one per second from start, with the
// given outcomes ('+' success, '-' failure).
func results(loc string, start time.Time, outcomes string) []Sample {
	var out []Sample
	for i, c := range outcomes {
		at := start.Add(time.Duration(i) * time.Second)
		out = append(out, Sample{ResultID: fmt.Sprintf("%s@%d", loc, at.Unix()), Location: loc, At: at,
			Interval: time.Second, Success: c == '+', Duration: 100 * time.Millisecond})
	}
	return out
}

// feed delivers samples one at a time, advancing after each, as a live
// consumer does, and returns the transitions in order.
func feed(tr *Tracker, samples []Sample) []*Transition {
	var out []*Transition
	for _, s := range samples {
		tr.Add(s)
		out = append(out, tr.Advance(time.Time{})...)
	}
	return out
}

func states(trs []*Transition) string {
	var s []string
	for _, t := range trs {
		s = append(s, t.To)
	}
	return strings.Join(s, ",")
}

// The seed's six alerting scenarios, on a rule of 80 % over 10 s with
// results every second (so "enough" is 5 results).
func TestSeedScenarios(t *testing.T) {
	down := map[string]State{"availability": {State: StateDown, Since: t0.Add(-time.Hour)}}
	tests := []struct {
		name     string
		states   map[string]State
		outcomes string
		want     string
	}{
		{"0 no records: no alert", nil, "", ""},
		{"1 too few records, availability below: no alert", nil, "--+-", ""},
		{"2 enough, availability above, state up: no message", nil, "++++++++++", ""},
		{"3 enough, availability below, state up: down message", nil, "+++++-----", "down"},
		{"4 enough, availability below, already down: no second message", down, "---------", ""},
		{"5 enough, availability above, state down: recovery message", down, "++++++++++", "up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker("api", "API", availability(0.8, 10*time.Second), Options{States: tc.states})
			if got := states(feed(tr, results("eu", t0, tc.outcomes))); got != tc.want {
				t.Fatalf("transitions %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDownMessageAndEvidence(t *testing.T) {
	tr := NewTracker("api", "Reservations API", availability(0.8, 10*time.Second), Options{})
	got := feed(tr, results("eu", t0, "++++---"))
	if len(got) != 1 {
		t.Fatalf("got %d transitions, want 1", len(got))
	}
	// After the 5th result: 4 of 5 ok = 80 %, not below; after the 6th: 4/6.
	want := "Website Reservations API is down. availability=66.67%, time=2026-11-22T10:00:05Z"
	if got[0].Message != want {
		t.Fatalf("message\n got %q\nwant %q", got[0].Message, want)
	}
	g := got[0]
	if g.Summary != "Website Reservations API is down" || g.Samples != 6 || g.Successes != 4 ||
		g.FirstResultID != "eu@"+fmt.Sprint(t0.Unix()) || g.LastResultID != "eu@"+fmt.Sprint(t0.Unix()+5) ||
		g.Unit != "ratio" || g.Location != "eu" || g.Locations != 1 || strings.Join(g.FailingLocations, ",") != "eu" {
		t.Fatalf("evidence %+v", g)
	}
}

func TestRecoveryMessageSaysWhenAndAfterHowLong(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 5*time.Second), Options{})
	got := feed(tr, results("eu", t0, "+++----------+++++"))
	if states(got) != "down,up" {
		t.Fatalf("transitions %q", states(got))
	}
	want := "Website API is up again. availability=80.00%, time=2026-11-22T10:00:16Z, recovered after 13s (down since 2026-11-22T10:00:03Z)"
	if got[1].Message != want {
		t.Fatalf("message\n got %q\nwant %q", got[1].Message, want)
	}
	if !got[1].Since.Equal(got[0].At) || got[1].From != StateDown {
		t.Fatalf("since %v from %s, want %v down", got[1].Since, got[1].From, got[0].At)
	}
}

// Exactly at the threshold is acceptable: the rule opens below it.
func TestThresholdBoundary(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 5*time.Second), Options{})
	if got := feed(tr, results("eu", t0, "++++-")); len(got) != 0 {
		t.Fatalf("4/5 = 80%% opened an alert: %+v", got)
	}
}

func TestDuplicatesCountOnce(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 10*time.Second), Options{})
	rs := results("eu", t0, "++++-")
	feed(tr, rs[:4])
	for range 10 { // the same failing result, ten times: one failure among four successes
		if tr.Add(rs[4]) == Late {
			t.Fatal("a duplicate was taken for a late result")
		}
		if got := tr.Advance(time.Time{}); len(got) != 0 {
			t.Fatalf("a duplicate opened an alert: %+v", got)
		}
	}
	if o := tr.Add(rs[0]); o != Duplicate {
		t.Fatalf("an evaluated result delivered again: %v, want Duplicate", o)
	}
}

// In-order results are evaluated at once: the transition comes with the
// result that causes it, not a lateness later.
func TestInOrderResultsAreEvaluatedWithoutWaiting(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 10*time.Second), Options{Lateness: time.Hour})
	rs := results("eu", t0, "+++++-----")
	// A location's first result waits (up to the lateness) for the other
	// locations' results of the same tick; after that, nothing waits.
	tr.Add(rs[0])
	if tr.Advance(time.Time{}) != nil || tr.Pending() != 1 {
		t.Fatalf("first result evaluated before the lateness passed")
	}
	tr.Flush()
	got := feed(tr, rs[1:])
	if len(got) != 1 || got[0].LastResultID != rs[6].ResultID {
		t.Fatalf("want the down transition at the 7th result, got %+v", got)
	}
	if tr.Pending() != 0 {
		t.Fatalf("%d results still pending", tr.Pending())
	}
}

// A stream shuffled within the lateness bound, across three locations,
// yields exactly the transitions, ids and messages of the in-order stream.
func TestOutOfOrderWithinLatenessSameTransitions(t *testing.T) {
	rules := []NamedRule{
		{Name: "availability", Rule: Rule{Kind: KindAvailability, Threshold: 0.8, Window: 10 * time.Second}},
		{Name: "consecutive", Rule: Rule{Kind: KindConsecutive, Failures: 3, Successes: 2, Quorum: 2}},
		{Name: "errors", Rule: Rule{Kind: KindErrorRate, Threshold: 0.3, Window: 5 * time.Second, For: 3 * time.Second}},
	}
	var all []Sample
	for _, loc := range []string{"eu", "us", "ap"} {
		all = append(all, results(loc, t0, "++++++----------+++++++-+-++----+++++++++++++")...)
	}
	inOrder := append([]Sample(nil), all...)
	sortSamples(inOrder)
	want := feed(NewTracker("api", "API", rules, Options{Lateness: 10 * time.Second}), inOrder)
	if len(want) < 4 {
		t.Fatalf("scenario too tame: %q", states(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		// Displace each result by up to 8 s of event time (lateness 10 s), and
		// deliver some twice.
		shuffled := append([]Sample(nil), inOrder...)
		keys := make([]float64, len(shuffled))
		for i, s := range shuffled {
			keys[i] = float64(s.At.Unix()) + rng.Float64()*8
		}
		sortByKey(shuffled, keys)
		for i := 0; i < len(shuffled); i += 7 {
			shuffled = append(shuffled, shuffled[i])
		}
		tr := NewTracker("api", "API", rules, Options{Lateness: 10 * time.Second})
		got := feed(tr, shuffled)
		got = append(got, tr.Advance(inOrder[len(inOrder)-1].At.Add(time.Hour))...)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %q, want %q", trial, states(got), states(want))
		}
		for i := range got {
			if got[i].EventID != want[i].EventID || got[i].Message != want[i].Message {
				t.Fatalf("trial %d transition %d:\n got %s %s\nwant %s %s", trial, i, got[i].EventID, got[i].Message, want[i].EventID, want[i].Message)
			}
		}
	}
}

// A result later than the lateness bound is not evaluated: it cannot rewrite
// what was already reported.
func TestLateBeyondBoundIsNotEvaluated(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 10*time.Second), Options{Lateness: 5 * time.Second})
	rs := results("eu", t0, "++++++++++++++++++++")
	missing := rs[3]
	feed(tr, append(rs[:3:3], rs[4:]...))
	// rs[3] was waited for until results 5 s newer arrived, then given up.
	if o := tr.Add(missing); o != Late {
		t.Fatalf("a result 16 s late: %v, want Late", o)
	}
	if tr.Watermark().Before(rs[19].At) {
		t.Fatalf("watermark %v stuck before the last result %v", tr.Watermark(), rs[19].At)
	}
}

// A gap is waited for: the results after it are evaluated once it is filled.
func TestGapIsWaitedForThenFilled(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 10*time.Second), Options{Lateness: 30 * time.Second})
	rs := results("eu", t0, "+++++-----")
	tr.Add(rs[0])
	tr.Flush()
	feed(tr, rs[1:5])
	feed(tr, rs[6:]) // rs[5] missing: nothing after it can be judged yet
	if tr.Pending() != 4 {
		t.Fatalf("pending %d, want 4 results waiting for the gap", tr.Pending())
	}
	got := feed(tr, rs[5:6])
	if len(got) != 1 || got[0].LastResultID != rs[6].ResultID {
		t.Fatalf("after the gap filled: %+v", got)
	}
}

func TestRestoredStateDoesNotRefire(t *testing.T) {
	rules := availability(0.8, 5*time.Second)
	rs := results("eu", t0, "+++-----")
	first := feed(NewTracker("api", "API", rules, Options{}), rs)
	if len(first) != 1 {
		t.Fatalf("want one down, got %+v", first)
	}
	// Restart after the transition was recorded: the same results read back.
	tr := NewTracker("api", "API", rules, Options{States: map[string]State{"availability": {State: StateDown, Since: first[0].At}}})
	for _, s := range rs {
		tr.Add(s)
	}
	if again := tr.Flush(); len(again) != 0 {
		t.Fatalf("restore re-fired: %+v", again)
	}
	// And the recovery that follows still says since when.
	up := feed(tr, results("eu", t0.Add(8*time.Second), "+++++"))
	if states(up) != "up" || !up[0].Since.Equal(first[0].At) {
		t.Fatalf("after restore: %+v", up)
	}
}

// A transition whose results were stored but whose event was lost (crash in
// between) is emitted when the stored results are read back after it.
func TestRestoreEmitsATransitionLostInACrash(t *testing.T) {
	rules := availability(0.8, 5*time.Second)
	rs := results("eu", t0, "+++++++-----")
	want := feed(NewTracker("api", "API", rules, Options{}), rs)
	tr := NewTracker("api", "API", rules, Options{})
	tr.Quiet(t0.Add(5 * time.Second)) // the first 5 s only prime the windows
	for _, s := range rs {
		tr.Add(s)
	}
	got := tr.Flush()
	if len(got) != 1 || got[0].EventID != want[0].EventID {
		t.Fatalf("restore: %+v, want %+v", got, want)
	}
}

func TestErrorRateForDuration(t *testing.T) {
	rules := []NamedRule{{Name: "errors", Rule: Rule{Kind: KindErrorRate, Threshold: 0.05, Window: 10 * time.Second, For: 3 * time.Second, MinSamples: 5}}}
	tr := NewTracker("api", "API", rules, Options{})
	// The error rate goes above 5 % with the failure at 10:00:06 and stays
	// above until it leaves the 10 s window at 10:00:16.
	got := feed(tr, results("eu", t0, "++++++-+++++++++++++++++"))
	if states(got) != "down,up" {
		t.Fatalf("transitions %q", states(got))
	}
	// Above from 10:00:06 on; firing 3 s later, at 10:00:09.
	if !got[0].At.Equal(t0.Add(9*time.Second)) || !strings.Contains(got[0].Message, "error rate=10.00% over 10s for 3s (limit 5.00%)") {
		t.Fatalf("down at %v: %s", got[0].At, got[0].Message)
	}
	if !got[1].At.Equal(t0.Add(16 * time.Second)) {
		t.Fatalf("up at %v", got[1].At)
	}
	// A blip shorter than For fires nothing.
	tr = NewTracker("api", "API", rules, Options{})
	if got := feed(tr, results("eu", t0, "++++++-++")); len(got) != 0 {
		t.Fatalf("a 2 s blip fired: %q", states(got))
	}
}

func TestConsecutiveFailuresOpenSuccessesClose(t *testing.T) {
	rules := []NamedRule{{Name: "consecutive", Rule: Rule{Kind: KindConsecutive, Failures: 3, Successes: 2}}}
	tr := NewTracker("api", "API", rules, Options{})
	rs := results("eu", t0, "+--+---+-++")
	got := feed(tr, rs)
	if states(got) != "down,up" {
		t.Fatalf("transitions %q", states(got))
	}
	if got[0].LastResultID != rs[6].ResultID || got[0].FirstResultID != rs[4].ResultID ||
		!strings.HasPrefix(got[0].Message, "Website API is down. 3 consecutive failures, time=2026-11-22T10:00:06Z") {
		t.Fatalf("down %+v", got[0])
	}
	if got[1].LastResultID != rs[10].ResultID || !strings.Contains(got[1].Message, "2 consecutive successes") {
		t.Fatalf("up %+v", got[1])
	}
}

func TestLatencyPercentileDegrades(t *testing.T) {
	rules := []NamedRule{{Name: "latency-p90", Rule: Rule{Kind: KindLatency, Percentile: 90, Limit: 500 * time.Millisecond, Window: 10 * time.Second, MinSamples: 10}}}
	tr := NewTracker("api", "API", rules, Options{})
	rs := results("eu", t0, strings.Repeat("+", 30))
	for i := 10; i < 20; i++ {
		rs[i].Duration = time.Second // 10 slow results
	}
	got := feed(tr, rs)
	if states(got) != "degraded,up" {
		t.Fatalf("transitions %q", states(got))
	}
	// p90 of 10 results goes above the limit once 2 of the last 10 are slow.
	if !got[0].At.Equal(rs[11].At) || got[0].Value != 1000 || got[0].Unit != "ms" ||
		got[0].Message != "Website API is degraded. p90 latency=1s over 10s (limit 500ms), time=2026-11-22T10:00:11Z" {
		t.Fatalf("degraded %+v", got[0])
	}
	if !strings.HasPrefix(got[1].Message, "Website API is no longer degraded. p90 latency=100ms") ||
		!strings.Contains(got[1].Message, "(degraded since 2026-11-22T10:00:11Z)") {
		t.Fatalf("up %s", got[1].Message)
	}
}

func TestCertificateExpiry(t *testing.T) {
	rules := []NamedRule{{Name: "certificate", Rule: Rule{Kind: KindCertificate, Days: 14}}}
	tr := NewTracker("api", "API", rules, Options{})
	rs := results("eu", t0, "++++")
	rs[0].CertNotAfter = t0.Add(20 * 24 * time.Hour)
	rs[1].CertNotAfter = t0.Add(10 * 24 * time.Hour) // a different (older) cert served
	rs[2].CertNotAfter = time.Time{}                 // handshake failed: no news
	rs[3].CertNotAfter = t0.Add(90 * 24 * time.Hour) // renewed
	got := feed(tr, rs)
	if states(got) != "degraded,up" || got[0].At != rs[1].At || got[1].At != rs[3].At {
		t.Fatalf("transitions %+v", got)
	}
	if !strings.Contains(got[0].Message, "certificate expires in 10.0 days (limit 14 days)") {
		t.Fatalf("message %s", got[0].Message)
	}
}

func TestQuorumOfLocations(t *testing.T) {
	rules := []NamedRule{{Name: "down", Rule: Rule{Kind: KindConsecutive, Failures: 2, Successes: 2, Quorum: 2}}}
	tr := NewTracker("api", "API", rules, Options{Lateness: 5 * time.Second})
	var all []Sample
	all = append(all, results("eu", t0, "+--------++++")...)
	all = append(all, results("us", t0, "++++---------")...)
	all = append(all, results("ap", t0, "+++++++++++++")...)
	sortSamples(all)
	got := feed(tr, all)
	got = append(got, tr.Advance(t0.Add(time.Minute))...)
	if states(got) != "down,up" {
		t.Fatalf("transitions %q", states(got))
	}
	// eu fails from 10:00:02; us joins at 10:00:05: the quorum of 2 is met.
	if !got[0].At.Equal(t0.Add(5*time.Second)) || strings.Join(got[0].FailingLocations, ",") != "eu,us" || got[0].Locations != 3 {
		t.Fatalf("down %+v", got[0])
	}
	if !strings.HasSuffix(got[0].Message, "failing in 2 of 3 locations (eu, us), quorum 2") {
		t.Fatalf("message %s", got[0].Message)
	}
	// eu recovers at 10:00:10 (2 successes): only us left failing.
	if !got[1].At.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("up %+v", got[1])
	}
}

func TestSilencedTransitionsAreRecordedAndFlagged(t *testing.T) {
	sil := []Silence{{Name: "db-maintenance", Labels: map[string]string{"team": "payments"},
		From: t0.Add(2 * time.Second), To: t0.Add(10 * time.Second)}}
	tr := NewTracker("api", "API", availability(0.8, 5*time.Second), Options{Silences: sil})
	tr.SetName("API", map[string]string{"team": "payments", "env": "prod"})
	got := feed(tr, results("eu", t0, "+++-----------++++++"))
	if states(got) != "down,up" {
		t.Fatalf("transitions %q", states(got))
	}
	if !got[0].Silenced || got[0].Silence != "db-maintenance" {
		t.Fatalf("down inside the window not silenced: %+v", got[0])
	}
	if got[1].Silenced {
		t.Fatalf("recovery after the window silenced: %+v", got[1])
	}
}

func sortSamples(s []Sample) {
	keys := make([]float64, len(s))
	sortByKey(s, keys)
}

// sortByKey orders samples by key, then in event-time order.
func sortByKey(s []Sample, keys []float64) {
	type keyed struct {
		k float64
		s Sample
	}
	ks := make([]keyed, len(s))
	for i := range s {
		ks[i] = keyed{keys[i], s[i]}
	}
	sort.Slice(ks, func(a, b int) bool {
		if ks[a].k != ks[b].k {
			return ks[a].k < ks[b].k
		}
		return ks[a].s.before(ks[b].s)
	})
	for i := range ks {
		s[i] = ks[i].s
	}
}
