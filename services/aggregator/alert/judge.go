package alert

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/picket-dev/picket/schemas/events"
)

// This file judges each rule kind over one location's evaluated results
// and combines the locations into the check's state; tracker.go decides
// which results are evaluated, and when.

type ruleTrack struct {
	NamedRule
	state State
	// quietUntil: evaluations at or before it update the rule's view but
	// emit nothing (history already reported, read back at restore).
	quietUntil time.Time
	locs       map[string]*locRule
	// burn is the prepared burn_rate rule (nil for other kinds).
	burn *burnSpec
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
	// burn_rate: the windows' counters, and the state the firing pairs open;
	// burnFirst is the first failed result since some pair's short window
	// burns at its factor, verdictAt the result the verdict last changed at.
	rings     []*ring
	severity  string
	burnFirst string
	verdictAt string
	burnEv    BurnEvidence
	ev        evidence
}

type evidence struct {
	value               float64
	samples, successes  int
	first, last         string
	availability        float64
	hasAvailabilityData bool
	burn                *BurnEvidence
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
	active, down := 0, 0
	for name, lr := range r.locs {
		stale := max(r.Lookback(lr.interval), 2*lr.interval)
		if r.burn != nil {
			stale = max(stale, r.shortestBurnWindow())
		}
		if lr.lastAt.Before(s.At.Add(-stale)) {
			continue // this location stopped reporting: neither failing nor counted
		}
		if !lr.judged {
			continue
		}
		active++
		if lr.failing {
			failing = append(failing, name)
			if r.opens(lr) == StateDown {
				down++
			}
		}
	}
	sort.Strings(failing)
	if active == 0 {
		return nil // nothing to judge on yet
	}
	// The most severe state a quorum of locations is at, or beyond.
	next := StateUp
	switch {
	case down >= r.quorum():
		next = StateDown
	case len(failing) >= r.quorum():
		next = StateDegraded
	}
	if next == r.state.name() || !s.At.After(r.quietUntil) {
		return nil
	}
	ev := r.locs[s.Location].ev
	tr := &Transition{
		CheckID: t.checkID, CheckName: t.checkName, CheckType: t.checkType, RuleName: r.Name, Rule: r.Rule,
		From: r.state.name(), To: next, At: s.At, Since: r.state.Since,
		Value: ev.value, Unit: unit(r.Kind), Samples: ev.samples, Successes: ev.successes,
		FirstResultID: ev.first, LastResultID: ev.last, Location: s.Location,
		FailingLocations: failing, Locations: active,
	}
	if ev.burn != nil {
		b := *ev.burn // the location's counters move on; the transition keeps what decided it
		tr.Burn = &b
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
	case KindBurnRate:
		r.judgeBurn(lr, s)
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

// opens is the state a failing location is in: the rule's, or for
// burn_rate that of its most severe firing pair.
func (r *ruleTrack) opens(lr *locRule) string {
	if r.burn != nil {
		return lr.severity
	}
	return r.failState()
}

func unit(kind string) string {
	switch kind {
	case KindBurnRate:
		return "burn_rate"
	case KindLatency:
		return "ms"
	case KindConsecutive:
		return "results"
	case KindCertificate:
		return "days"
	}
	return "ratio"
}
