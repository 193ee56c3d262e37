package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// feed observes one result per second with the given outcomes and returns the
// transitions in order.
func feed(tr *Tracker, start time.Time, outcomes string) []*Transition {
	var out []*Transition
	for i, c := range outcomes {
		at := start.Add(time.Duration(i) * time.Second)
		if got := tr.Observe(Sample{ResultID: fmt.Sprint(at.UnixNano()), At: at, Success: c == '+'}, ""); got != nil {
			out = append(out, got)
		}
	}
	return out
}

// The seed's six alerting scenarios, on a rule of 80 % over 10 s with
// results every second (so "enough" is 5 results).
func TestSeedScenarios(t *testing.T) {
	rule := Rule{Threshold: 0.8, Window: 10 * time.Second}
	down := State{Down: true, Since: t0.Add(-time.Hour)}
	tests := []struct {
		name     string
		state    State
		outcomes string // + success, - failure, one per second
		want     string // "" no message, "down", "up"
	}{
		{"0 no records: no alert", State{}, "", ""},
		{"1 too few records, availability below: no alert", State{}, "--+-", ""},
		{"2 enough, availability above, state up: no message", State{}, "++++++++++", ""},
		{"3 enough, availability below, state up: down message", State{}, "+++++-----", "down"},
		{"4 enough, availability below, already down: no second message", down, "---------", ""},
		{"5 enough, availability above, state down: recovery message", down, "++++++++++", "up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker("api", "API", rule, time.Second, tc.state)
			got := feed(tr, t0, tc.outcomes)
			var states []string
			for _, g := range got {
				states = append(states, map[bool]string{true: "down", false: "up"}[g.Down])
			}
			if strings.Join(states, ",") != tc.want {
				t.Fatalf("transitions %v, want %q", states, tc.want)
			}
		})
	}
}

func TestDownMessageText(t *testing.T) {
	tr := NewTracker("api", "Reservations API", Rule{Threshold: 0.8, Window: 10 * time.Second}, time.Second, State{})
	got := feed(tr, t0, "++++---")
	if len(got) != 1 {
		t.Fatalf("got %d transitions, want 1", len(got))
	}
	// 5 results in the window after the 5th: 4 ok → 80 %, not below; 6th: 4/6.
	want := "Website Reservations API is down. availability=66.67%, time=2026-11-22T10:00:05Z"
	if got[0].Message != want {
		t.Fatalf("message\n got %q\nwant %q", got[0].Message, want)
	}
	if got[0].Samples != 6 || got[0].Successes != 4 || got[0].LastResultID == "" {
		t.Fatalf("evidence %+v", got[0])
	}
}

func TestRecoveryMessageSaysWhenAndAfterHowLong(t *testing.T) {
	tr := NewTracker("api", "API", Rule{Threshold: 0.8, Window: 5 * time.Second}, time.Second, State{})
	got := feed(tr, t0, "+++----------+++++")
	if len(got) != 2 || !got[0].Down || got[1].Down {
		t.Fatalf("transitions %+v", got)
	}
	want := "Website API is up again. availability=80.00%, time=2026-11-22T10:00:16Z, recovered after 13s (down since 2026-11-22T10:00:03Z)"
	if got[1].Message != want {
		t.Fatalf("message\n got %q\nwant %q", got[1].Message, want)
	}
	if !got[1].DownSince.Equal(got[0].At) {
		t.Fatalf("down since %v, want %v", got[1].DownSince, got[0].At)
	}
}

// Exactly at the threshold is acceptable: the rule opens below it and closes
// at or above it.
func TestThresholdBoundary(t *testing.T) {
	tr := NewTracker("api", "API", Rule{Threshold: 0.8, Window: 5 * time.Second}, time.Second, State{})
	if got := feed(tr, t0, "++++-"); len(got) != 0 {
		t.Fatalf("4/5 = 80%% opened an alert: %+v", got)
	}
}

func TestSameInputSameTransitionsAndIDs(t *testing.T) {
	rule := Rule{Threshold: 0.8, Window: 5 * time.Second}
	a := feed(NewTracker("api", "API", rule, time.Second, State{}), t0, "+++------+++++---")
	b := feed(NewTracker("api", "API", rule, time.Second, State{}), t0, "+++------+++++---")
	if len(a) != 3 || len(a) != len(b) {
		t.Fatalf("got %d and %d transitions, want 3 each", len(a), len(b))
	}
	for i := range a {
		if a[i].EventID != b[i].EventID || a[i].Message != b[i].Message {
			t.Fatalf("transition %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
}

func TestDuplicateResultsCountOnce(t *testing.T) {
	tr := NewTracker("api", "API", Rule{Threshold: 0.8, Window: 10 * time.Second}, time.Second, State{})
	// The same failing result delivered ten times is one failure among four successes.
	for i := range 4 {
		tr.Observe(Sample{ResultID: fmt.Sprint("ok", i), At: t0.Add(time.Duration(i) * time.Second), Success: true}, "")
	}
	for range 10 {
		if got := tr.Observe(Sample{ResultID: "bad", At: t0.Add(4 * time.Second)}, ""); got != nil {
			t.Fatalf("a duplicate opened an alert: %+v", got)
		}
	}
}

func TestRestoredStateDoesNotRefire(t *testing.T) {
	rule := Rule{Threshold: 0.8, Window: 5 * time.Second}
	first := feed(NewTracker("api", "API", rule, time.Second, State{}), t0, "+++-----")
	if len(first) != 1 {
		t.Fatalf("want one down, got %+v", first)
	}
	// Restart after the transition was recorded: the same results replayed.
	tr := NewTracker("api", "API", rule, time.Second, State{Down: true, Since: first[0].At})
	if again := feed(tr, t0, "+++-----"); len(again) != 0 {
		t.Fatalf("replay re-fired: %+v", again)
	}
}

func TestMinSamplesFromInterval(t *testing.T) {
	r := Rule{Threshold: 0.8, Window: 2 * time.Minute}
	if got := r.minSamples(5 * time.Second); got != 12 {
		t.Fatalf("2m window at 5s interval needs %d, want 12", got)
	}
	r.MinSamples = 3
	if got := r.minSamples(5 * time.Second); got != 3 {
		t.Fatalf("explicit min_samples ignored: %d", got)
	}
}
