package alert

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/picket-dev/picket/schemas/events"
)

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

// State is where one rule of one check stands.
type State struct {
	// State is up, down or degraded; empty means up.
	State string
	// Since is when the current state began (zero if never transitioned).
	Since time.Time
}

func (s State) name() string {
	if s.State == "" {
		return StateUp
	}
	return s.State
}

// Transition is a change of state of one rule, with its evidence.
type Transition struct {
	EventID   string
	CheckID   string
	CheckName string
	RuleName  string
	Rule      Rule
	From, To  string // states
	At        time.Time
	// Since is when the previous state began: on recovery, when the alert opened.
	Since time.Time
	// The deciding location's evidence.
	Value         float64
	Unit          string
	Availability  float64
	Samples       int
	Successes     int
	FirstResultID string
	LastResultID  string
	Location      string
	// FailingLocations fail the rule at At, out of Locations active.
	FailingLocations []string
	Locations        int
	Silenced         bool
	Silence          string
	Summary, Message string
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
type Tracker struct {
	checkID, checkName string
	labels             map[string]string
	lateness           time.Duration
	silences           []Silence
	rules              []*ruleTrack
	locs               map[string]*location
	pending            []Sample // sorted, not yet evaluated
	pendingIDs         map[string]struct{}
	watermark          time.Time // every result at or before it has been evaluated
	maxSeen            time.Time
}

type location struct {
	ready    time.Time // every result of the location up to here has arrived
	interval time.Duration
	samples  []Sample // evaluated, in event-time order, within the lookback
}

type ruleTrack struct {
	NamedRule
	state State
	// quietUntil: evaluations at or before it update the rule's view but
	// emit nothing (history already reported, read back at restore).
	quietUntil time.Time
	locs       map[string]*locRule
}

// locRule is one rule's view of one location.
type locRule struct {
	// judged is false until the location had enough results for a verdict.
	judged   bool
	failing  bool
	lastAt   time.Time
	interval time.Duration
	// consecutive: the current run of failures (lastOK false) or successes.
	run      int
	lastOK   bool
	runFirst string
	// error_rate: since when the rate has been above the threshold.
	above time.Time
	ev    evidence
}

type evidence struct {
	value               float64
	samples, successes  int
	first, last         string
	availability        float64
	hasAvailabilityData bool
}

// Options configure a tracker.
type Options struct {
	Lateness time.Duration
	Silences []Silence
	// States are the rules' states as last recorded, by rule name.
	States map[string]State
}

// NewTracker tracks checkID under rules, starting from the recorded states.
func NewTracker(checkID, checkName string, rules []NamedRule, o Options) *Tracker {
	t := &Tracker{checkID: checkID, checkName: checkName, lateness: o.Lateness, silences: o.Silences,
		locs: map[string]*location{}, pendingIDs: map[string]struct{}{}}
	for _, r := range rules {
		st := o.States[r.Name]
		t.rules = append(t.rules, &ruleTrack{NamedRule: r, state: st, quietUntil: st.Since, locs: map[string]*locRule{}})
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
// restoring, for history whose transitions were already reported.
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

// Outcome says what Add did with a result.
type Outcome int

// The outcomes of Add.
const (
	Buffered  Outcome = iota // waiting for the watermark
	Duplicate                // seen before: ignored
	Late                     // at or before the watermark, not seen before: not evaluated
)

// Add buffers one result. Call Advance to evaluate what became ready.
func (t *Tracker) Add(s Sample) Outcome {
	if _, dup := t.pendingIDs[s.ResultID]; dup {
		return Duplicate
	}
	if !s.At.After(t.watermark) {
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
	if t.locs[s.Location] == nil {
		t.locs[s.Location] = &location{}
	}
	return Buffered
}

// Advance evaluates every buffered result the watermark has passed, in
// event-time order, and returns the transitions they caused. newest is the
// newest event time seen by the caller on the check's partition: it lets a
// check whose own results stopped still flush a gap after Lateness.
func (t *Tracker) Advance(newest time.Time) []*Transition {
	if len(t.pending) == 0 {
		return nil
	}
	wm, ok := t.nextWatermark(newest)
	if !ok {
		return nil
	}
	return t.evaluateUpTo(wm)
}

// Flush evaluates every buffered result regardless of the watermark: for
// history read back from storage, which is complete.
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

// evaluate applies every rule at s's event time.
func (t *Tracker) evaluate(s Sample) []*Transition {
	l := t.locs[s.Location]
	if s.Interval > 0 {
		l.interval = s.Interval
	}
	l.samples = append(l.samples, s)
	from := s.At.Add(-t.Lookback(l.interval))
	i := 0
	for i < len(l.samples) && !l.samples[i].At.After(from) {
		i++
	}
	l.samples = l.samples[i:]

	var out []*Transition
	for _, r := range t.rules {
		lr := r.locs[s.Location]
		if lr == nil {
			lr = &locRule{}
			r.locs[s.Location] = lr
		}
		lr.lastAt, lr.interval = s.At, l.interval
		r.judge(lr, l.samples, s)
		if tr := t.decide(r, s); tr != nil {
			out = append(out, tr)
		}
	}
	return out
}

// decide combines the locations' verdicts with the quorum into the check's
// state for rule r, and returns the transition if it changed.
func (t *Tracker) decide(r *ruleTrack, s Sample) *Transition {
	var failing []string
	active := 0
	for name, lr := range r.locs {
		stale := max(r.Lookback(lr.interval), 2*lr.interval)
		if lr.lastAt.Before(s.At.Add(-stale)) {
			continue // this location stopped reporting: neither failing nor counted
		}
		if !lr.judged {
			continue
		}
		active++
		if lr.failing {
			failing = append(failing, name)
		}
	}
	sort.Strings(failing)
	if active == 0 {
		return nil // nothing to judge on yet
	}
	next := StateUp
	if len(failing) >= r.quorum() {
		next = r.failState()
	}
	if next == r.state.name() || !s.At.After(r.quietUntil) {
		return nil
	}
	ev := r.locs[s.Location].ev
	tr := &Transition{
		CheckID: t.checkID, CheckName: t.checkName, RuleName: r.Name, Rule: r.Rule,
		From: r.state.name(), To: next, At: s.At, Since: r.state.Since,
		Value: ev.value, Unit: unit(r.Kind), Samples: ev.samples, Successes: ev.successes,
		FirstResultID: ev.first, LastResultID: ev.last, Location: s.Location,
		FailingLocations: failing, Locations: active,
	}
	if ev.hasAvailabilityData {
		tr.Availability = ev.availability
	}
	if sil, ok := silencedBy(t.silences, t.checkID, t.labels, r.Name, s.At); ok {
		tr.Silenced, tr.Silence = true, sil.Name
	}
	tr.Summary, tr.Message = texts(tr)
	tr.EventID = events.AlertEventID(t.checkID, r.Name, AlertState(next), s.At)
	r.state = State{State: next, Since: s.At}
	return tr
}

// judge updates the location's verdict for rule r with sample s; samples
// are the location's evaluated results, s last.
func (r *ruleTrack) judge(lr *locRule, samples []Sample, s Sample) {
	switch r.Kind {
	case KindAvailability, KindErrorRate, KindLatency:
		win := window(samples, s.At.Add(-r.Window))
		if len(win) < r.minSamples(lr.interval) {
			if r.Kind == KindErrorRate {
				lr.above = time.Time{}
			}
			return // too few results to judge: the verdict stands
		}
		ok := 0
		for _, w := range win {
			if w.Success {
				ok++
			}
		}
		avail := float64(ok) / float64(len(win))
		lr.judged = true
		lr.ev = evidence{samples: len(win), successes: ok, first: win[0].ResultID, last: s.ResultID,
			availability: avail, hasAvailabilityData: true}
		switch r.Kind {
		case KindAvailability:
			lr.ev.value = avail
			lr.failing = avail < r.Threshold
		case KindErrorRate:
			rate := 1 - avail
			lr.ev.value = rate
			if rate <= r.Threshold {
				lr.above, lr.failing = time.Time{}, false
				return
			}
			if lr.above.IsZero() {
				lr.above = s.At
			}
			lr.failing = s.At.Sub(lr.above) >= r.For
		case KindLatency:
			p := percentile(win, r.Percentile)
			lr.ev.value = float64(p) / float64(time.Millisecond)
			lr.failing = p > r.Limit
		}
	case KindConsecutive:
		if lr.run > 0 && lr.lastOK == s.Success {
			lr.run++
		} else {
			lr.run, lr.lastOK, lr.runFirst = 1, s.Success, s.ResultID
		}
		lr.judged = true
		lr.ev = evidence{value: float64(lr.run), samples: lr.run, first: lr.runFirst, last: s.ResultID}
		if s.Success {
			lr.ev.successes = lr.run
		}
		switch {
		case !lr.failing && !s.Success && lr.run >= r.Failures:
			lr.failing = true
		case lr.failing && s.Success && lr.run >= r.Successes:
			lr.failing = false
		}
	case KindCertificate:
		if s.CertNotAfter.IsZero() {
			return // no handshake, no news about the certificate
		}
		lr.judged = true
		left := s.CertNotAfter.Sub(s.At)
		lr.ev = evidence{value: left.Hours() / 24, samples: 1, first: s.ResultID, last: s.ResultID}
		lr.failing = left < time.Duration(r.Days)*24*time.Hour
	}
}

// window is the suffix of samples after from.
func window(samples []Sample, from time.Time) []Sample {
	i := len(samples)
	for i > 0 && samples[i-1].At.After(from) {
		i--
	}
	return samples[i:]
}

// percentile is the nearest-rank p-th percentile of the durations.
func percentile(win []Sample, p float64) time.Duration {
	d := make([]time.Duration, len(win))
	for i, s := range win {
		d[i] = s.Duration
	}
	slices.Sort(d)
	rank := int(math.Ceil(p / 100 * float64(len(d))))
	return d[min(max(rank, 1), len(d))-1]
}

func unit(kind string) string {
	switch kind {
	case KindLatency:
		return "ms"
	case KindConsecutive:
		return "results"
	case KindCertificate:
		return "days"
	}
	return "ratio"
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
