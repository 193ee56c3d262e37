package alert

import (
	"fmt"
	"sort"
	"time"

	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// Sample is one result as the rule sees it.
type Sample struct {
	ResultID string
	At       time.Time // the scheduled tick
	Success  bool
}

// State is where a check's rule stands.
type State struct {
	Down bool
	// Since is when the current state began (zero if never transitioned).
	Since time.Time
}

// Transition is a change of state, with its evidence.
type Transition struct {
	EventID      string
	CheckID      string
	CheckName    string
	Rule         Rule
	Down         bool // the new state
	At           time.Time
	Availability float64
	Samples      int
	Successes    int
	DownSince    time.Time // set on recovery
	LastResultID string
	Message      string
}

// Tracker holds one check's window and state.
type Tracker struct {
	checkID, checkName string
	rule               Rule
	interval           time.Duration
	state              State
	// evaluated is the latest event time evaluated; an older result only
	// joins the window, it cannot rewrite history already reported.
	evaluated time.Time
	samples   []Sample // sorted by At
	seen      map[string]struct{}
}

// NewTracker starts tracking a check from a known state (the zero State for
// a check never alerted).
func NewTracker(checkID, checkName string, rule Rule, interval time.Duration, st State) *Tracker {
	return &Tracker{checkID: checkID, checkName: checkName, rule: rule, interval: interval, state: st,
		evaluated: st.Since, seen: map[string]struct{}{}}
}

// State returns the current state.
func (t *Tracker) State() State { return t.state }

// Prime adds results from before the tracker existed (read back from
// storage) without evaluating them.
func (t *Tracker) Prime(samples []Sample) {
	for _, s := range samples {
		t.add(s)
	}
}

func (t *Tracker) add(s Sample) bool {
	if _, dup := t.seen[s.ResultID]; dup {
		return false
	}
	t.seen[s.ResultID] = struct{}{}
	i := sort.Search(len(t.samples), func(i int) bool { return t.samples[i].At.After(s.At) })
	t.samples = append(t.samples, Sample{})
	copy(t.samples[i+1:], t.samples[i:])
	t.samples[i] = s
	return true
}

// Observe adds one result and evaluates the rule at its event time. It
// returns the transition it caused, if any. A result seen before is ignored.
func (t *Tracker) Observe(s Sample, name string) *Transition {
	if name != "" {
		t.checkName = name
	}
	if !t.add(s) {
		return nil
	}
	if !s.At.After(t.evaluated) {
		return nil
	}
	t.evaluated = s.At
	t.evict(s.At)
	n, ok := t.window(s.At)
	if n < t.rule.minSamples(t.interval) {
		return nil // too few results to judge
	}
	avail := float64(ok) / float64(n)
	var down bool
	switch {
	case !t.state.Down && avail < t.rule.Threshold:
		down = true
	case t.state.Down && avail >= t.rule.Threshold:
		down = false
	default:
		return nil
	}
	tr := &Transition{
		CheckID: t.checkID, CheckName: t.checkName, Rule: t.rule, Down: down, At: s.At,
		Availability: avail, Samples: n, Successes: ok, LastResultID: s.ResultID,
	}
	if down {
		tr.Message = DownMessage(t.checkName, avail, s.At)
	} else {
		tr.DownSince = t.state.Since
		tr.Message = UpMessage(t.checkName, avail, s.At, t.state.Since)
	}
	tr.EventID = events.AlertEventID(t.checkID, RuleName, AlertState(down), s.At)
	t.state = State{Down: down, Since: s.At}
	return tr
}

// window counts the results and successes in (at - Window, at].
func (t *Tracker) window(at time.Time) (n, ok int) {
	from := at.Add(-t.rule.Window)
	for _, s := range t.samples {
		if s.At.After(from) && !s.At.After(at) {
			n++
			if s.Success {
				ok++
			}
		}
	}
	return n, ok
}

// evict drops results too old to enter any future window.
func (t *Tracker) evict(at time.Time) {
	from := at.Add(-t.rule.Window)
	i := 0
	for i < len(t.samples) && !t.samples[i].At.After(from) {
		delete(t.seen, t.samples[i].ResultID)
		i++
	}
	t.samples = t.samples[i:]
}

// AlertState maps a down flag to the event enum.
func AlertState(down bool) eventsv1.AlertState {
	if down {
		return eventsv1.AlertState_ALERT_STATE_DOWN
	}
	return eventsv1.AlertState_ALERT_STATE_UP
}

// DownMessage is the text of an opening alert.
func DownMessage(name string, availability float64, at time.Time) string {
	return fmt.Sprintf("Website %s is down. availability=%s, time=%s", name, Percent(availability), at.UTC().Format(time.RFC3339))
}

// UpMessage is the text of a recovery.
func UpMessage(name string, availability float64, at, downSince time.Time) string {
	return fmt.Sprintf("Website %s is up again. availability=%s, time=%s, recovered after %s (down since %s)",
		name, Percent(availability), at.UTC().Format(time.RFC3339), at.Sub(downSince).Round(time.Millisecond),
		downSince.UTC().Format(time.RFC3339))
}

// Percent formats a 0..1 fraction as a percentage with two decimals.
func Percent(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }
