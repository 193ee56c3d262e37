package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A check whose results stop goes stale StaleAfter intervals after its
// newest result, once the clock (other checks' results, or the wall clock)
// is Lateness past that: an open alert resolves with a message saying why,
// once; results that resume are judged afresh.
func TestSilentCheckGoesStaleOnceAndResumesAfresh(t *testing.T) {
	rules := append(availability(0.8, 5*time.Second),
		NamedRule{Name: "two", Rule: Rule{Kind: KindConsecutive, Failures: 2, Successes: 2}})
	tr := NewTracker("api", "API", rules, Options{Lateness: 2 * time.Second, StaleAfter: 5})
	got := feed(tr, results("eu", t0, "+++-----"))
	if states(got) != "down,down" {
		t.Fatalf("transitions %q", states(got))
	}
	last := t0.Add(7 * time.Second)
	// 5 intervals after the newest result, plus the lateness, minus a tick: not yet.
	if got := tr.Advance(last.Add(7*time.Second - time.Millisecond)); len(got) != 0 {
		t.Fatalf("stale too early: %+v", got)
	}
	got = tr.Advance(last.Add(7 * time.Second))
	if states(got) != "stale,stale" || !tr.Stale() {
		t.Fatalf("transitions %q, stale %v", states(got), tr.Stale())
	}
	want := "Website API stopped reporting. no results for 5s (5 intervals): the check was removed or its prober stopped; alert resolved, time=2026-11-22T10:00:12Z, open for 9s (down since 2026-11-22T10:00:03Z)"
	if got[0].Message != want || got[0].From != StateDown || !got[0].At.Equal(last.Add(5*time.Second)) ||
		got[0].LastResultID != results("eu", t0, "+++-----")[7].ResultID {
		t.Fatalf("stale transition %+v\nwant message %q", got[0], want)
	}
	if again := tr.Advance(last.Add(time.Hour)); len(again) != 0 {
		t.Fatalf("stale repeated: %+v", again)
	}
	if !tr.Idle(last.Add(time.Hour)) {
		t.Fatal("a stale check's tracker is not idle an hour later")
	}
	// A result of the silent period arriving now is late.
	if o := tr.Add(results("eu", last.Add(time.Second), "+")[0]); o != Late {
		t.Fatalf("a result of the silent period: %v, want Late", o)
	}
	// It reports again, failing: judged on the new results only — the
	// availability of the new window alone (0 %), the consecutive rule's
	// run counted from the first new result (which is not a failing run yet:
	// up, reporting again).
	back := t0.Add(time.Minute)
	got = feed(tr, results("eu", back, "--++++++"))
	var seq []string
	for _, g := range got {
		seq = append(seq, g.RuleName+":"+g.From+">"+g.To+"@"+g.At.Format("04:05"))
	}
	if want := "[two:stale>up@01:00 availability:stale>down@01:01 two:up>down@01:01 two:down>up@01:03 availability:down>up@01:05]"; fmt.Sprint(seq) != want {
		t.Fatalf("resumed:\n got %v\nwant %s", seq, want)
	}
	if got[0].Message != "Website API is reporting again, up. 1 consecutive failures (fewer than 2), time=2026-11-22T10:01:00Z" ||
		got[1].Message != "Website API is down. availability=0.00%, time=2026-11-22T10:01:01Z" || tr.Stale() {
		t.Fatalf("%q\n%q", got[0].Message, got[1].Message)
	}
}

// A rule up when its check stops reporting goes stale too (recorded, and
// not an alert: nothing resolves), and a stale state already recorded is
// not entered again after a restart.
func TestUpCheckGoesStaleAndRecordedStaleIsNotRepeated(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 5*time.Second), Options{Lateness: time.Second, StaleAfter: 3})
	rs := results("eu", t0, "++++++")
	feed(tr, rs)
	got := tr.Advance(t0.Add(time.Minute))
	if states(got) != "stale" || got[0].From != StateUp ||
		got[0].Message != "Website API stopped reporting. no results for 3s (3 intervals): the check was removed or its prober stopped, time=2026-11-22T10:00:08Z" {
		t.Fatalf("%+v", got)
	}
	restarted := NewTracker("api", "API", availability(0.8, 5*time.Second),
		Options{Lateness: time.Second, StaleAfter: 3, States: map[string]State{"availability": {State: StateStale, Since: got[0].At}}})
	for _, s := range rs {
		restarted.Add(s)
	}
	if again := restarted.Advance(t0.Add(time.Minute)); len(again) != 0 {
		t.Fatalf("restart repeated: %+v", again)
	}
	if back := feed(restarted, results("eu", t0.Add(time.Hour), "++++++")); states(back) != "up" ||
		!strings.HasPrefix(back[0].Message, "Website API is reporting again, up. availability=100.00%") {
		t.Fatalf("back: %+v", back)
	}
}

// Runs the prober skipped for overload neither fail nor succeed a rule, and
// hold their tick: the results around them are evaluated at once, as
// contiguous, and a consecutive run is not broken by them.
func TestOverloadSkippedRunsCountForNothing(t *testing.T) {
	rules := append(availability(0.8, 10*time.Second),
		NamedRule{Name: "three", Rule: Rule{Kind: KindConsecutive, Failures: 3, Successes: 1}})
	tr := NewTracker("api", "API", rules, Options{Lateness: time.Hour})
	rs := results("eu", t0, "++++++++++--x-x-")
	for i, c := range "++++++++++--x-x-" {
		if c == 'x' {
			rs[i].Skipped = true // reported as failures, class overload
		}
	}
	tr.Add(rs[0])
	tr.Flush()
	var outcomes []Outcome
	var got []*Transition
	for _, s := range rs[1:] {
		outcomes = append(outcomes, tr.Add(s))
		got = append(got, tr.Advance(time.Time{})...)
	}
	if tr.Pending() != 0 {
		t.Fatalf("%d results wait: a skipped run broke contiguity", tr.Pending())
	}
	if outcomes[11] != Skipped || outcomes[13] != Skipped {
		t.Fatalf("outcomes %v", outcomes)
	}
	// Failures at ticks 10, 11, 13: three in a row at 13 once the skipped
	// run at 12 is left out, and availability 6/9 < 80 % over (3 s, 13 s].
	// Counted as failures, the skipped runs would have opened both at 12.
	if states(got) != "down,down" || got[0].RuleName != "availability" || !got[0].At.Equal(t0.Add(13*time.Second)) ||
		got[0].Samples != 9 || got[1].RuleName != "three" || !got[1].At.Equal(t0.Add(13*time.Second)) || got[1].Value != 3 {
		var s []string
		for _, g := range got {
			s = append(s, g.RuleName+"@"+g.At.Format("05")+" "+g.Message)
		}
		t.Fatalf("transitions:\n%s", strings.Join(s, "\n"))
	}
}

// Messages say "Website" for HTTP checks only (the seed's text), and name
// the probe kind otherwise.
func TestMessagesNameTheProbeKind(t *testing.T) {
	for _, tc := range []struct{ typ, want string }{
		{"http", "Website DB is down. availability=75.00%, time=2026-11-22T10:00:03Z"},
		{"", "Website DB is down. availability=75.00%, time=2026-11-22T10:00:03Z"},
		{"tcp", "TCP check DB is down. availability=75.00%, time=2026-11-22T10:00:03Z"},
		{"dns", "DNS check DB is down. availability=75.00%, time=2026-11-22T10:00:03Z"},
		{"tls", "TLS check DB is down. availability=75.00%, time=2026-11-22T10:00:03Z"},
		{"grpc", "Check DB is down. availability=75.00%, time=2026-11-22T10:00:03Z"},
	} {
		tr := NewTracker("db", "DB", availability(0.8, 5*time.Second), Options{})
		tr.SetType(tc.typ)
		got := feed(tr, results("eu", t0, "+++--"))
		if len(got) != 1 || got[0].Message != tc.want {
			var msgs []string
			for _, g := range got {
				msgs = append(msgs, g.Message)
			}
			t.Errorf("type %q: %q, want %q", tc.typ, msgs, tc.want)
		}
	}
}

// A silence followed by a result is a stale period whatever the delivery:
// one at a time, all at once, or read back from storage.
func TestStaleDoesNotDependOnBatching(t *testing.T) {
	rs := append(results("eu", t0, "++++++"), results("eu", t0.Add(20*time.Second), "+++")...)
	o := Options{Lateness: 2 * time.Second, StaleAfter: 5}
	one := feed(NewTracker("api", "API", availability(0.8, 5*time.Second), o), rs)
	all := NewTracker("api", "API", availability(0.8, 5*time.Second), o)
	for _, s := range rs {
		all.Add(s)
	}
	flushed := all.Flush()
	if states(one) != "stale,up" || len(flushed) != len(one) {
		t.Fatalf("one at a time %q, flushed %q", states(one), states(flushed))
	}
	for i := range one {
		if one[i].EventID != flushed[i].EventID || one[i].Message != flushed[i].Message {
			t.Fatalf("%d: %s vs %s", i, one[i].Message, flushed[i].Message)
		}
	}
	if !one[0].At.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("stale at %v, want 5 intervals after the last result", one[0].At)
	}
}
