package backtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
	"github.com/picket-dev/picket/services/aggregator/alert"
)

var t0 = embeddedtest.Day().Add(10 * time.Hour)

// history stores 30 minutes of "api" results every 10 s, failing from
// 10:10:00 to 10:14:50, and "web" results that never fail.
func history(t *testing.T) *store.Store {
	t.Helper()
	st := embeddedtest.Store(t)
	var rows []store.ResultRow
	for i := range 180 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		fail := !at.Before(t0.Add(10*time.Minute)) && at.Before(t0.Add(15*time.Minute))
		for _, id := range []string{"api", "web"} {
			ok := id == "web" || !fail
			rows = append(rows, store.ResultRow{ResultID: events.ResultID(id, "eu", at), CheckID: id, CheckName: strings.ToUpper(id),
				CheckType: "http", Location: "eu", ScheduledAt: at, StartedAt: at, DurationMS: 50, HTTPStatus: 200,
				Success: ok, IntervalMS: 10000, Labels: map[string]string{"team": id + "-team"}})
		}
	}
	if err := st.InsertResults(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	return st
}

// What the live aggregator recorded under the default rule (80 % over 2 m):
// with 12 results per window, the third failure opens (9/12 = 75 %) and the
// window back to 10 of 12 closes.
var recorded = []store.AlertRow{
	{EventID: "d", CheckID: "api", CheckName: "API", Rule: "availability", State: "down", PreviousState: "up",
		At: t0.Add(10*time.Minute + 20*time.Second), Message: "Website API is down. availability=75.00%, time=" + t0.Add(10*time.Minute+20*time.Second).Format(time.RFC3339)},
	{EventID: "u", CheckID: "api", CheckName: "API", Rule: "availability", State: "up", PreviousState: "down",
		At: t0.Add(16*time.Minute + 30*time.Second), Message: "Website API is up again."},
}

func TestBacktestSetsCandidateNextToActual(t *testing.T) {
	st := history(t)
	if err := st.InsertAlerts(context.Background(), recorded); err != nil {
		t.Fatal(err)
	}
	rules := alert.Config{Rules: map[string]alert.Rule{
		"availability": alert.DefaultRule(),
		"two-strikes":  {Kind: alert.KindConsecutive, Failures: 2, Successes: 2},
	}}
	rep, err := Run(context.Background(), st, Options{Rules: rules, From: t0.Add(5 * time.Minute), To: t0.Add(30 * time.Minute), Warmup: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range rep.Lines() {
		got = append(got, l.CheckID+" "+l.Rule+" "+l.At.Format("15:04:05")+" "+orDash(l.Candidate)+" "+orDash(l.Actual))
	}
	want := []string{
		"api two-strikes 10:10:10 down -",
		"api availability 10:10:20 down down",
		"api two-strikes 10:15:10 up -",
		"api availability 10:16:30 up up",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Results != 2*180 {
		t.Fatalf("%d results evaluated, want 360 (30 minutes of two checks, warm-up included)", rep.Results)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CHECK  RULE", "api    availability  " + t0.Add(10*time.Minute+20*time.Second).Format(time.RFC3339) + "  down", "candidate rules 4 transitions, actual 2, identical 2"} {
		if !strings.Contains(out.String(), w) {
			t.Fatalf("output lacks %q:\n%s", w, out.String())
		}
	}
}

// Transitions before --from are history the warm-up replays, not reported;
// without a warm-up the window starts empty at --from.
func TestBacktestReportsOnlyThePeriod(t *testing.T) {
	st := history(t)
	rules := alert.Config{Rules: map[string]alert.Rule{"two-strikes": {Kind: alert.KindConsecutive, Failures: 2, Successes: 2}}}
	rep, err := Run(context.Background(), st, Options{Rules: rules, From: t0.Add(12 * time.Minute), To: t0.Add(30 * time.Minute), Warmup: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidate) != 1 || rep.Candidate[0].State != "up" || len(rep.Actual) != 0 {
		t.Fatalf("candidate %+v actual %+v: want only the 10:15:10 recovery", rep.Candidate, rep.Actual)
	}
	rep, err = Run(context.Background(), st, Options{Rules: rules, From: t0, To: t0.Add(30 * time.Minute), Checks: []string{"web"}})
	if err != nil || len(rep.Candidate) != 0 || rep.Results != 180 {
		t.Fatalf("web only: %+v %v", rep, err)
	}
}

// Labels are stored with the results, so a silence by label covers a
// transition evaluated from history too.
func TestBacktestAppliesSilencesByStoredLabels(t *testing.T) {
	st := history(t)
	rules := alert.Config{
		Rules: map[string]alert.Rule{"availability": alert.DefaultRule()},
		Silences: []alert.Silence{{Name: "api-maintenance", Labels: map[string]string{"team": "api-team"},
			From: t0.Add(10 * time.Minute), To: t0.Add(11 * time.Minute)}},
	}
	rep, err := Run(context.Background(), st, Options{Rules: rules, From: t0.Add(5 * time.Minute), To: t0.Add(30 * time.Minute), Warmup: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidate) != 2 || !rep.Candidate[0].Silenced || rep.Candidate[1].Silenced {
		t.Fatalf("candidate %+v: want the down at 10:10:20 silenced, the up at 10:16:30 not", rep.Candidate)
	}
	if l := rep.Lines(); l[0].Candidate != "down (silenced)" {
		t.Fatalf("line %+v", l[0])
	}
}

// burnHistory stores three healthy days of "api" and "web" results every
// minute, then 16 hours in which "api" fails one result in 20 (a slow burn
// of 5× a 99 % objective's budget) and "web" fails for an hour from the
// fourth hour (a fast burn), and rolls them up as the aggregator does.
func burnHistory(t *testing.T) (*store.Store, time.Time, []alert.Sample) {
	t.Helper()
	st := embeddedtest.Store(t)
	start := t0.Add(-72 * time.Hour)
	const healthy, n = 72 * 60, 72*60 + 16*60
	var rows []store.ResultRow
	var samples []alert.Sample
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		for _, id := range []string{"api", "web"} {
			ok := i < healthy || id == "api" && (i-healthy)%20 != 19 || id == "web" && (i < healthy+240 || i >= healthy+300)
			r := store.ResultRow{ResultID: events.ResultID(id, "eu", at), CheckID: id, CheckName: strings.ToUpper(id),
				CheckType: "http", Location: "eu", ScheduledAt: at, StartedAt: at, DurationMS: 50, HTTPStatus: 200,
				Success: ok, IntervalMS: 60000}
			rows = append(rows, r)
			samples = append(samples, alert.Sample{ResultID: r.ResultID, Location: "eu", At: at, Interval: time.Minute, Success: ok})
		}
	}
	ctx := context.Background()
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"api", "web"}, start, start.Add(n*time.Minute)); err != nil {
		t.Fatal(err)
	}
	return st, start.Add(healthy * time.Minute), samples
}

// A candidate burn_rate rule backtested over a day, with the default
// one-hour warm-up: its 3-day window is counted from the minute rollups
// before the warm-up, so the backtest gives the transitions of an
// evaluation of all three days of raw results — the slow burn only
// tickets, the fast one pages, drops to a ticket and closes.
func TestBacktestBurnRateRule(t *testing.T) {
	st, burn, samples := burnHistory(t)
	rules := alert.Config{Lateness: 30 * time.Second, StaleAfter: 5,
		Rules: map[string]alert.Rule{"slo": {Kind: alert.KindBurnRate, Objective: 0.99}}}
	want := map[string][]string{}
	for _, id := range []string{"api", "web"} {
		tr := alert.NewTracker(id, strings.ToUpper(id), rules.For(id), alert.Options{Lateness: rules.Lateness, StaleAfter: rules.StaleAfter})
		tr.SetType("http")
		for _, s := range samples {
			if strings.HasPrefix(s.ResultID, events.ResultID(id, "eu", s.At)) {
				tr.Add(s)
			}
		}
		for _, x := range tr.Flush() {
			if !x.At.Before(burn.Add(time.Hour)) {
				want[id] = append(want[id], x.To+" "+x.At.Format("15:04:05")+" "+x.Message)
			}
		}
	}
	if len(want["api"]) != 1 || !strings.HasPrefix(want["api"][0], "degraded") || len(want["web"]) != 3 {
		t.Fatalf("reference transitions %q", want)
	}
	rep, err := Run(context.Background(), st, Options{Rules: rules, From: burn.Add(time.Hour), To: burn.Add(16 * time.Hour), Warmup: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, c := range rep.Candidate {
		got[c.CheckID] = append(got[c.CheckID], c.State+" "+c.At.Format("15:04:05")+" "+c.Message)
	}
	for _, id := range []string{"api", "web"} {
		if strings.Join(got[id], "\n") != strings.Join(want[id], "\n") {
			t.Errorf("%s: backtest\n%s\nwant\n%s", id, strings.Join(got[id], "\n"), strings.Join(want[id], "\n"))
		}
	}
	if rep.Results != 2*16*60 {
		t.Fatalf("%d raw results read, want %d: the warm-up and the period, not the 3 days", rep.Results, 2*16*60)
	}
}
