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
