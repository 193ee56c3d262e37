// Package backtest evaluates candidate alert rules over stored history and
// sets the transitions they would have produced next to the ones actually
// emitted. It reads ClickHouse only: nothing is published, nobody notified.
package backtest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// Options say what to backtest.
type Options struct {
	// Rules are the candidate rules, in the aggregator's alerting format.
	Rules alert.Config
	// From and To bound the transitions reported (event time).
	From, To time.Time
	// Warmup is the history before From the rules see first, so their
	// windows are full at From; transitions in it are not reported.
	Warmup time.Duration
	// Checks limits the backtest to these check ids (empty: every check).
	Checks []string
	// Chunk is how much event time is read at once.
	Chunk time.Duration
}

// Transition is one state change, candidate or actual.
type Transition struct {
	CheckID, Rule, State string
	At                   time.Time
	Message              string
	Silenced             bool
}

// Report is a backtest's outcome.
type Report struct {
	From, To time.Time
	// Results is how many stored results were evaluated (warm-up included).
	Results   int
	Candidate []Transition
	Actual    []Transition
}

// Run evaluates o.Rules over the results stored in [From-Warmup, To), in
// event-time order, starting every rule up, and reads the transitions
// recorded in [From, To).
func Run(ctx context.Context, st *store.Store, o Options) (Report, error) {
	if !o.To.After(o.From) {
		return Report{}, fmt.Errorf("backtest: --to %s must be after --from %s", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339))
	}
	if o.Chunk <= 0 {
		o.Chunk = time.Hour
	}
	rep := Report{From: o.From, To: o.To}
	trackers := map[string]*alert.Tracker{}
	tracker := func(id, name string) *alert.Tracker {
		tr := trackers[id]
		if tr == nil {
			tr = alert.NewTracker(id, name, o.Rules.For(id),
				alert.Options{Lateness: o.Rules.Lateness, StaleAfter: o.Rules.StaleAfter, Silences: o.Rules.Silences})
			trackers[id] = tr
		}
		return tr
	}
	first := o.From.Add(-o.Warmup)
	if burn := o.Rules.MaxBurnWindow(); burn > 0 {
		// burn_rate windows (up to days) are counted from the minute
		// rollups before the warm-up, as a restore does: its raw results
		// start on a minute.
		first = first.Truncate(time.Minute)
		counts, err := st.MinuteCounts(ctx, o.Checks, first.Add(-burn).Truncate(time.Minute), first)
		if err != nil {
			return Report{}, err
		}
		for _, c := range counts {
			if tr := tracker(c.CheckID, c.CheckID); tr.HasBurnRate() {
				tr.SeedMinute(c.Location, c.Minute, c.Runs, c.Successes)
			}
		}
	}
	report := func(ts []*alert.Transition) {
		for _, t := range ts {
			if !t.At.Before(o.From) {
				rep.Candidate = append(rep.Candidate, Transition{CheckID: t.CheckID, Rule: t.RuleName, State: t.To,
					At: t.At, Message: t.Message, Silenced: t.Silenced})
			}
		}
	}
	for at := first; at.Before(o.To); at = at.Add(o.Chunk) {
		end := minTime(at.Add(o.Chunk), o.To)
		rows, err := st.ResultsBetween(ctx, o.Checks, at, end)
		if err != nil {
			return Report{}, err
		}
		rep.Results += len(rows)
		for _, r := range rows {
			tr := tracker(r.CheckID, r.CheckName)
			tr.SetName(r.CheckName, r.Labels)
			tr.SetType(r.CheckType)
			tr.Add(ingest.StoredSample(r))
		}
		// Stored history is complete: no watermark to wait for. Every result
		// before end is read, so end is the clock for the checks that fell
		// silent (live, the partition's newer results or the wall clock); a
		// silence followed by a result goes stale as that result is
		// evaluated, in any chunking, as live in any batching.
		for _, tr := range trackers {
			report(tr.Flush())
			report(tr.Advance(end))
		}
	}
	actual, err := st.Alerts(ctx, store.AlertQuery{From: o.From, To: o.To, Limit: 1_000_000})
	if err != nil {
		return Report{}, err
	}
	for _, a := range actual {
		if len(o.Checks) > 0 && !slices.Contains(o.Checks, a.CheckID) {
			continue
		}
		rep.Actual = append(rep.Actual, Transition{CheckID: a.CheckID, Rule: a.Rule, State: a.State, At: a.At,
			Message: a.Message, Silenced: a.Silenced})
	}
	sortTransitions(rep.Candidate)
	sortTransitions(rep.Actual)
	return rep, nil
}

// Line is one row of the side-by-side comparison: a transition of a check
// and rule at an event time, as the candidate rules and as history have it
// ("" where one side has none).
type Line struct {
	CheckID, Rule     string
	At                time.Time
	Candidate, Actual string
}

// Lines pairs candidate and actual transitions of the same check, rule and
// event time.
func (r Report) Lines() []Line {
	type key struct {
		check, rule string
		at          int64
	}
	byKey := map[key]*Line{}
	var out []*Line
	add := func(t Transition, candidate bool) {
		k := key{t.CheckID, t.Rule, t.At.UnixNano()}
		l := byKey[k]
		if l == nil {
			l = &Line{CheckID: t.CheckID, Rule: t.Rule, At: t.At}
			byKey[k] = l
			out = append(out, l)
		}
		state := t.State
		if t.Silenced {
			state += " (silenced)"
		}
		if candidate {
			l.Candidate = state
		} else {
			l.Actual = state
		}
	}
	for _, t := range r.Candidate {
		add(t, true)
	}
	for _, t := range r.Actual {
		add(t, false)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.CheckID != b.CheckID {
			return a.CheckID < b.CheckID
		}
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.Rule < b.Rule
	})
	lines := make([]Line, len(out))
	for i, l := range out {
		lines[i] = *l
	}
	return lines
}

// Print writes the comparison as a table and a summary.
func (r Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRULE\tAT\tCANDIDATE\tACTUAL")
	same := 0
	for _, l := range r.Lines() {
		if l.Candidate == l.Actual {
			same++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.CheckID, l.Rule, l.At.UTC().Format(time.RFC3339Nano),
			orDash(l.Candidate), orDash(l.Actual))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d results from %s to %s: candidate rules %d transitions, actual %d, identical %d\n",
		r.Results, r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), len(r.Candidate), len(r.Actual), same)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortTransitions(ts []Transition) {
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.CheckID+"/"+a.Rule < b.CheckID+"/"+b.Rule
	})
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
