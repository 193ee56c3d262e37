package alert

import (
	"slices"
	"sort"
	"time"

	"github.com/picket-dev/picket/schemas/events"
)

// This file decides which results are evaluated and when: buffering, the
// watermark, lateness, and staleness (a check that stopped reporting).
// judge.go judges the rules over what it lets through.

// Sample is one result as the rules see it.
type Sample struct {
	ResultID string
	Location string
	At       time.Time // the scheduled tick: event time
	Interval time.Duration
	Success  bool
	Duration time.Duration
	// CertNotAfter is the earliest expiry of the server's chain; zero when
	// the run saw no certificate.
	CertNotAfter time.Time
	// Skipped is a run the prober skipped because it was overloaded
	// (FAILURE_CLASS_OVERLOAD): it says nothing about the target, so it
	// neither fails nor succeeds any rule. It still counts as its location's
	// result for that tick (the tick is accounted for: no gap to wait for)
	// and as a sign the check is reporting (its prober is alive).
	Skipped bool
}

func (s Sample) before(o Sample) bool {
	if !s.At.Equal(o.At) {
		return s.At.Before(o.At)
	}
	if s.Location != o.Location {
		return s.Location < o.Location
	}
	return s.ResultID < o.ResultID
}

// Tracker evaluates one check's rules over its results in event-time order.
//
// Results are buffered until the check's watermark passes them. Each
// location's results are ready as soon as they are contiguous (the next
// result is at most one interval after the previous): in-order delivery is
// evaluated at once. A gap is waited for until results Lateness newer have
// been seen; a location that fell silent for longer than Lateness no longer
// holds the others back. A result at or before the watermark is late: it is
// not evaluated (it is still stored and counted in stats).
//
// A check with no result for StaleAfter intervals after its newest one goes
// stale at that event time, once the caller's clock is Lateness past it: each
// rule not already stale transitions to stale (an open alert is resolved),
// the watermark moves to that time, and the locations' windows and verdicts
// are cleared, so a check that reports again is judged afresh.
type Tracker struct {
	checkID, checkName string
	checkType          string
	labels             map[string]string
	lateness           time.Duration
	staleAfter         int
	silences           []Silence
	rules              []*ruleTrack
	locs               map[string]*location
	pending            []Sample // sorted, not yet evaluated
	pendingIDs         map[string]struct{}
	watermark          time.Time // every result at or before it has been evaluated
	maxSeen            time.Time
	// last is the newest result added (any location); evaluated the newest
	// evaluated (or skipped), and interval its interval: staleness is
	// counted from them.
	last      Sample
	evaluated Sample
	interval  time.Duration
	// staleAt is when the check last went stale (zero: never).
	staleAt time.Time
	// stored are the ids of the results read back from storage (AddStored):
	// when the same results are redelivered from Kafka (a batch stored but
	// not committed before a restart or a rebalance) they are duplicates, not
	// late, however far behind the watermark. Bounded by the restore horizon.
	stored map[string]struct{}
}

type location struct {
	ready    time.Time // every result of the location up to here has arrived
	interval time.Duration
	samples  []Sample // evaluated, in event-time order, within the lookback
}

// Options configure a tracker.
type Options struct {
	Lateness time.Duration
	// StaleAfter is how many intervals without any result make the check
	// stale; 0 never does.
	StaleAfter int
	Silences   []Silence
	// States are the rules' states as last recorded, by rule name.
	States map[string]State
}

// NewTracker tracks checkID under rules, starting from the recorded states.
func NewTracker(checkID, checkName string, rules []NamedRule, o Options) *Tracker {
	t := &Tracker{checkID: checkID, checkName: checkName, lateness: o.Lateness, staleAfter: o.StaleAfter,
		silences: o.Silences, locs: map[string]*location{}, pendingIDs: map[string]struct{}{}}
	for _, r := range rules {
		st := o.States[r.Name]
		rt := &ruleTrack{NamedRule: r, state: st, quietUntil: st.Since, locs: map[string]*locRule{}}
		if r.Kind == KindBurnRate {
			rt.burn = newBurnSpec(r.Rule)
		}
		t.rules = append(t.rules, rt)
	}
	return t
}

// States returns each rule's current state, by rule name.
func (t *Tracker) States() map[string]State {
	out := map[string]State{}
	for _, r := range t.rules {
		out[r.Name] = r.state
	}
	return out
}

// Quiet makes evaluations at or before until emit nothing: used when
// restoring, for history whose transitions were already reported. (A
// transition to stale is not quieted: it depends on no window, only on the
// newest result, and is emitted unless the recorded state is already it.)
func (t *Tracker) Quiet(until time.Time) {
	for _, r := range t.rules {
		r.quietUntil = maxTime(r.quietUntil, until)
	}
}

// Watermark is the event time up to which results have been evaluated.
func (t *Tracker) Watermark() time.Time { return t.watermark }

// Pending is the number of results waiting for the watermark.
func (t *Tracker) Pending() int { return len(t.pending) }

// SetName updates the check's display name and labels (from its newest result).
func (t *Tracker) SetName(name string, labels map[string]string) {
	if name != "" {
		t.checkName = name
	}
	if labels != nil {
		t.labels = labels
	}
}

// SetType updates the check's probe kind ("http", "tcp", …), which messages name.
func (t *Tracker) SetType(checkType string) {
	if checkType != "" {
		t.checkType = checkType
	}
}

// Outcome says what Add did with a result.
type Outcome int

// The outcomes of Add.
const (
	Buffered  Outcome = iota // waiting for the watermark
	Duplicate                // seen before: ignored
	Late                     // at or before the watermark, not seen before: not evaluated
	Skipped                  // a run skipped for overload: holds its tick, judges nothing
)

// Add buffers one result. Call Advance to evaluate what became ready.
func (t *Tracker) Add(s Sample) Outcome {
	if _, dup := t.pendingIDs[s.ResultID]; dup {
		return Duplicate
	}
	if !s.At.After(t.watermark) {
		if s.Skipped {
			return Skipped // nothing to evaluate, late or not
		}
		if _, ok := t.stored[s.ResultID]; ok {
			return Duplicate
		}
		if l := t.locs[s.Location]; l != nil {
			for _, e := range l.samples {
				if e.ResultID == s.ResultID {
					return Duplicate
				}
			}
		}
		return Late
	}
	i := sort.Search(len(t.pending), func(i int) bool { return s.before(t.pending[i]) })
	t.pending = slices.Insert(t.pending, i, s)
	t.pendingIDs[s.ResultID] = struct{}{}
	if s.At.After(t.maxSeen) {
		t.maxSeen = s.At
	}
	if t.last.ResultID == "" || t.last.before(s) {
		t.last = s
	}
	if t.locs[s.Location] == nil {
		t.locs[s.Location] = &location{}
	}
	if s.Skipped {
		return Skipped
	}
	return Buffered
}

// AddStored buffers a result read back from storage (restore), and
// remembers it: delivered again from Kafka, it is a duplicate.
func (t *Tracker) AddStored(s Sample) Outcome {
	if t.stored == nil {
		t.stored = map[string]struct{}{}
	}
	t.stored[s.ResultID] = struct{}{}
	return t.Add(s)
}

// Advance evaluates every buffered result the watermark has passed, in
// event-time order, and returns the transitions they caused, then those of
// the check going stale. clock is the newest event time the caller knows of
// on the check's partition (advanced by the wall clock while the partition
// is silent): it lets a check whose own results stopped still flush a gap
// after Lateness, and go stale.
func (t *Tracker) Advance(clock time.Time) []*Transition {
	var out []*Transition
	if len(t.pending) > 0 {
		if wm, ok := t.nextWatermark(clock); ok {
			out = t.evaluateUpTo(wm)
		}
	}
	return append(out, t.expire(clock)...)
}

// Flush evaluates every buffered result regardless of the watermark: for
// history read back from storage, which is complete. It never makes the
// check stale: Advance with the clock of the history's end does.
func (t *Tracker) Flush() []*Transition {
	if len(t.pending) == 0 {
		return nil
	}
	for _, s := range t.pending {
		t.locs[s.Location].ready = maxTime(t.locs[s.Location].ready, s.At)
	}
	return t.evaluateUpTo(t.pending[len(t.pending)-1].At)
}

func (t *Tracker) nextWatermark(newest time.Time) (time.Time, bool) {
	floor := maxTime(t.maxSeen, newest).Add(-t.lateness)
	var wm time.Time
	found := false
	for name, l := range t.locs {
		t.extend(name, l)
		if l.ready.Before(floor) {
			if !t.hasPending(name) {
				continue // silent for longer than the lateness: not waited for
			}
			l.ready = floor // give up on the gap
			t.extend(name, l)
		}
		if !found || l.ready.Before(wm) {
			wm, found = l.ready, true
		}
	}
	if !found {
		wm = floor
	}
	if !wm.After(t.watermark) {
		return time.Time{}, false
	}
	return wm, true
}

// extend moves a location's ready mark over its contiguous buffered results.
func (t *Tracker) extend(name string, l *location) {
	for _, s := range t.pending {
		if s.Location != name || !s.At.After(l.ready) {
			continue
		}
		iv := s.Interval
		if iv <= 0 {
			iv = l.interval
		}
		if l.ready.IsZero() || s.At.Sub(l.ready) > iv+iv/2 {
			// A gap: a result is missing, or late. A location's first result
			// is one too: results of the same ticks from other locations may
			// still be on their way.
			return
		}
		l.ready, l.interval = s.At, iv
	}
}

func (t *Tracker) hasPending(loc string) bool {
	for _, s := range t.pending {
		if s.Location == loc {
			return true
		}
	}
	return false
}

func (t *Tracker) evaluateUpTo(wm time.Time) []*Transition {
	var out []*Transition
	n := 0
	for _, s := range t.pending {
		if s.At.After(wm) {
			break
		}
		delete(t.pendingIDs, s.ResultID)
		n++
		// A silence of stale_after intervals before s: the check went stale
		// then, whenever (and in whatever batches) s arrives.
		if at, ok := t.staleTime(); ok && s.At.After(at) {
			out = append(out, t.goStale(at)...)
		}
		t.evaluated = s
		if s.Interval > 0 {
			t.interval = s.Interval
		}
		if s.Skipped {
			continue // held its tick; judges nothing
		}
		out = append(out, t.evaluate(s)...)
	}
	t.pending = slices.Delete(t.pending, 0, n)
	t.watermark = maxTime(t.watermark, wm)
	return out
}

// Lookback is the history the check's rules need at interval.
func (t *Tracker) Lookback(interval time.Duration) time.Duration {
	lb := interval
	for _, r := range t.rules {
		lb = max(lb, r.Lookback(interval))
	}
	return lb + interval
}

// staleTime is the event time the check goes stale at if no result newer
// than its newest evaluated one arrives.
func (t *Tracker) staleTime() (time.Time, bool) {
	if t.staleAfter <= 0 || t.evaluated.ResultID == "" || t.interval <= 0 {
		return time.Time{}, false
	}
	return t.evaluated.At.Add(time.Duration(t.staleAfter) * t.interval), true
}

// ExpiresAt is the earliest clock at which Advance can do anything for a
// tracker with nothing pending: make the check stale. ok is false when it
// cannot (no staleness, or already stale for that silence). With nothing
// pending, Advance at an earlier clock returns nothing and changes nothing.
func (t *Tracker) ExpiresAt() (clock time.Time, ok bool) {
	at, ok := t.staleTime()
	if !ok || t.staleAt.Equal(at) {
		return time.Time{}, false
	}
	return at.Add(t.lateness), true
}

// Stale reports whether the check went stale and has not reported since.
func (t *Tracker) Stale() bool { return !t.staleAt.IsZero() && t.last.At.Before(t.staleAt) }

// expire makes the check stale once clock is Lateness past its stale time
// with nothing pending: a result of the silent period arriving after that is
// late, as any result more than Lateness behind the partition. (A check
// whose next result comes after its stale time goes stale when that result
// is evaluated: see evaluateUpTo.)
func (t *Tracker) expire(clock time.Time) []*Transition {
	at, ok := t.staleTime()
	if !ok || len(t.pending) > 0 || clock.Add(-t.lateness).Before(at) {
		return nil
	}
	return t.goStale(at)
}

// goStale puts every rule not already stale in the stale state at at (once
// per silence), and clears the windows and verdicts: a check that reports
// again is judged on its new results only.
func (t *Tracker) goStale(at time.Time) []*Transition {
	if t.staleAt.Equal(at) {
		return nil
	}
	t.staleAt = at
	t.watermark = maxTime(t.watermark, at)
	for _, l := range t.locs {
		l.samples = nil
	}
	var out []*Transition
	for _, r := range t.rules {
		r.locs = map[string]*locRule{}
		if r.state.name() == StateStale || !at.After(r.state.Since) {
			continue
		}
		tr := &Transition{
			CheckID: t.checkID, CheckName: t.checkName, CheckType: t.checkType, RuleName: r.Name, Rule: r.Rule,
			From: r.state.name(), To: StateStale, At: at, Since: r.state.Since,
			Value: float64(t.staleAfter), Unit: "intervals", LastResultID: t.evaluated.ResultID, FirstResultID: t.evaluated.ResultID,
			Location: t.evaluated.Location, FailingLocations: []string{}, Silent: at.Sub(t.evaluated.At),
		}
		if sil, ok := silencedBy(t.silences, t.checkID, t.labels, r.Name, at); ok {
			tr.Silenced, tr.Silence = true, sil.Name
		}
		tr.Summary, tr.Message = texts(tr)
		tr.EventID = events.AlertEventID(t.checkID, r.Name, AlertState(StateStale), at)
		r.state = State{State: StateStale, Since: at}
		out = append(out, tr)
	}
	return out
}

// Idle reports whether the tracker holds nothing worth keeping at clock:
// the check went stale, and its rules' lookback and the lateness have passed
// since its newest result. Its states (States) are all that is left.
func (t *Tracker) Idle(clock time.Time) bool {
	if !t.Stale() || len(t.pending) > 0 {
		return false
	}
	return !clock.Add(-t.lateness).Before(maxTime(t.staleAt, t.last.At.Add(t.Lookback(t.interval))))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
