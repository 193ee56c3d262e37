// Package alert evaluates alert rules per check over event time.
//
// Evaluation is a pure function of the results seen, taken in the order of
// their scheduled times once a watermark has passed them: it never reads the
// wall clock, so the same results yield the same transitions, with the same
// ids, whether they arrive live, late (within the lateness bound), out of
// order or replayed.
package alert

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// The rule kinds.
const (
	// KindAvailability opens when the fraction of successful results over
	// Window drops below Threshold, and closes at or above it.
	KindAvailability = "availability"
	// KindErrorRate opens when the fraction of failed results over Window has
	// stayed above Threshold for For, and closes as soon as it is not.
	KindErrorRate = "error_rate"
	// KindConsecutive opens after Failures failed results in a row and closes
	// after Successes successful results in a row.
	KindConsecutive = "consecutive"
	// KindLatency opens when the Percentile of run durations over Window is
	// above Limit, and closes at or below it.
	KindLatency = "latency"
	// KindCertificate opens when the server's certificate expires within Days
	// of the result, and closes when a later result shows a renewed one.
	KindCertificate = "certificate"
	// KindBurnRate is the SRE workbook's multi-window, multi-burn-rate alert
	// on an availability Objective: it opens when, for one of Windows, the
	// error budget burns at least Factor times the sustainable rate over
	// both the pair's long and short window (see burn.go).
	KindBurnRate = "burn_rate"
)

var kinds = []string{KindAvailability, KindErrorRate, KindConsecutive, KindLatency, KindCertificate, KindBurnRate}

// The states a rule can put a check in.
const (
	StateUp       = "up"
	StateDown     = "down"
	StateDegraded = "degraded"
	// StateStale is a check that stopped reporting: no result for
	// Config.StaleAfter intervals. Entering it resolves an open alert.
	StateStale = "stale"
)

// Rule is one alert rule. Which fields apply depends on Kind.
type Rule struct {
	Kind string `koanf:"kind"`
	// Threshold is the availability floor (availability) or the error-rate
	// ceiling (error_rate), as a fraction 0..1.
	Threshold float64 `koanf:"threshold"`
	// Window is how far back from each result the rule looks (availability,
	// error_rate, latency).
	Window time.Duration `koanf:"window"`
	// For is how long the error rate must stay above Threshold (error_rate).
	For time.Duration `koanf:"for"`
	// MinSamples is how many results a window needs before the rule says
	// anything; 0 means half of what the check's interval implies (at least 1).
	// For burn_rate it is the long window's minimum, the guard for low-rate
	// checks; 0 there means the fewest results in which one failure alone
	// cannot reach the pair's factor.
	MinSamples int `koanf:"min_samples"`
	// Failures and Successes are the runs that open and close (consecutive).
	Failures  int `koanf:"failures"`
	Successes int `koanf:"successes"`
	// Percentile (0..100) of durations compared with Limit (latency).
	Percentile float64       `koanf:"percentile"`
	Limit      time.Duration `koanf:"limit"`
	// Days before expiry that the certificate rule opens (certificate).
	Days int `koanf:"days"`
	// Objective is the availability objective in (0, 1), e.g. 0.999: the
	// error budget is 1 − Objective of the results (burn_rate).
	Objective float64 `koanf:"objective"`
	// Windows are the window pairs of a burn_rate rule; empty means the SRE
	// workbook's: 1h/5m at 14.4 and 6h/30m at 6 open down (page), 72h/6h at
	// 1 opens degraded (ticket).
	Windows []BurnWindow `koanf:"windows"`
	// Quorum is how many of the check's locations must be failing the rule
	// for the check to be; 0 means 1 (any location).
	Quorum int `koanf:"quorum"`
	// State is what the rule opens: down or degraded. The default is down,
	// degraded for latency and certificate; for burn_rate, each window pair
	// says (its state), and this is the default of a pair that does not.
	State string `koanf:"state"`
	// Disabled turns off a default rule for one check.
	Disabled bool `koanf:"disabled"`
}

// DefaultRule is the seed's rule: availability below 80 % over 2 minutes.
func DefaultRule() Rule {
	return Rule{Kind: KindAvailability, Threshold: 0.8, Window: 2 * time.Minute}
}

// NamedRule is a rule with the name it is configured under, which events,
// storage and the alert topic's keys carry.
type NamedRule struct {
	Name string
	Rule
}

// Validate names the offending key under prefix.
func (r Rule) Validate(prefix string) error {
	bad := func(key string, format string, args ...any) error {
		return fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...))
	}
	if !slices.Contains(kinds, r.Kind) {
		return bad("kind", "%q is not one of %v", r.Kind, kinds)
	}
	switch r.State {
	case "", StateDown, StateDegraded:
	default:
		return bad("state", "%q must be down or degraded", r.State)
	}
	switch {
	case r.MinSamples < 0:
		return bad("min_samples", "%d must not be negative", r.MinSamples)
	case r.Quorum < 0:
		return bad("quorum", "%d must not be negative", r.Quorum)
	}
	switch r.Kind {
	case KindAvailability, KindErrorRate:
		if math.IsNaN(r.Threshold) || r.Threshold <= 0 || r.Threshold > 1 {
			return bad("threshold", "%v must be in (0, 1]", r.Threshold)
		}
	}
	switch r.Kind {
	case KindAvailability, KindErrorRate, KindLatency:
		if r.Window <= 0 {
			return bad("window", "%s must be positive", r.Window)
		}
	}
	switch r.Kind {
	case KindErrorRate:
		if r.For < 0 {
			return bad("for", "%s must not be negative", r.For)
		}
	case KindConsecutive:
		if r.Failures < 1 {
			return bad("failures", "%d must be at least 1", r.Failures)
		}
		if r.Successes < 1 {
			return bad("successes", "%d must be at least 1", r.Successes)
		}
	case KindLatency:
		if math.IsNaN(r.Percentile) || r.Percentile <= 0 || r.Percentile > 100 {
			return bad("percentile", "%v must be in (0, 100]", r.Percentile)
		}
		if r.Limit <= 0 {
			return bad("limit", "%s must be positive", r.Limit)
		}
	case KindCertificate:
		if r.Days < 1 {
			return bad("days", "%d must be at least 1", r.Days)
		}
	case KindBurnRate:
		return r.validateBurn(bad)
	}
	return nil
}

// failState is the state the rule opens.
func (r Rule) failState() string {
	switch {
	case r.State != "":
		return r.State
	case r.Kind == KindLatency || r.Kind == KindCertificate:
		return StateDegraded
	}
	return StateDown
}

func (r Rule) quorum() int { return max(1, r.Quorum) }

// minSamples is the number of results a window needs, given the check's interval.
func (r Rule) minSamples(interval time.Duration) int {
	if r.MinSamples > 0 {
		return r.MinSamples
	}
	if interval <= 0 {
		return 1
	}
	return max(1, int(r.Window/interval)/2)
}

// Lookback is how much history before a result the rule can depend on.
func (r Rule) Lookback(interval time.Duration) time.Duration {
	switch r.Kind {
	case KindErrorRate:
		return r.Window + r.For
	case KindConsecutive:
		return time.Duration(max(r.Failures, r.Successes)+1) * interval
	case KindCertificate, KindBurnRate:
		// burn_rate's windows are counters (burn.go), not held results,
		// restored from the minute rollups: it needs no raw history.
		return interval
	}
	return r.Window
}

// inherit fills the fields an override left unset from the default rule of
// the same name, so `checks.x.rules.availability.threshold: 0.95` keeps the
// default window.
func (r Rule) inherit(d Rule) Rule {
	if r.Kind == "" {
		r.Kind = d.Kind
	}
	if r.Kind != d.Kind {
		return r
	}
	fill := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	fill(&r.Threshold, d.Threshold)
	fill(&r.Percentile, d.Percentile)
	fill(&r.Objective, d.Objective)
	if r.Windows == nil {
		r.Windows = d.Windows
	}
	for _, p := range []struct{ v, d *time.Duration }{{&r.Window, &d.Window}, {&r.For, &d.For}, {&r.Limit, &d.Limit}} {
		if *p.v == 0 {
			*p.v = *p.d
		}
	}
	for _, p := range []struct{ v, d *int }{{&r.MinSamples, &d.MinSamples}, {&r.Failures, &d.Failures},
		{&r.Successes, &d.Successes}, {&r.Days, &d.Days}, {&r.Quorum, &d.Quorum}} {
		if *p.v == 0 {
			*p.v = *p.d
		}
	}
	if r.State == "" {
		r.State = d.State
	}
	return r
}

// CheckRules are one check's overrides.
type CheckRules struct {
	// Rules replace, field by field, the default rules of the same name, or
	// add rules; `disabled: true` removes a default rule for this check.
	Rules map[string]Rule `koanf:"rules"`
}

// Config is the alerting configuration.
type Config struct {
	// Lateness bounds how late (in event time) a result may arrive and still
	// be evaluated in order. Results from a location are evaluated as soon
	// as they are contiguous (no missing tick); a gap is waited for until
	// newer results are Lateness ahead of it.
	Lateness time.Duration `koanf:"lateness"`
	// RestoreHorizon is how much recent history (event time, before the
	// newest stored result) the rules are rebuilt from at start and after a
	// rebalance. A transition lost in a crash between storing its results and
	// emitting it is recovered when it lies within the horizon's last part
	// after the rules' lookback.
	RestoreHorizon time.Duration `koanf:"restore_horizon"`
	// MaxPageAge is how old (wall clock at decision minus event time) a
	// transition may be and still be paged. An older one — found by the
	// restore after a restart, by re-evaluating history under changed rules,
	// or while catching up a backlog — is recorded with historical=true and
	// never paged. 0 pages every transition.
	MaxPageAge time.Duration `koanf:"max_page_age"`
	// StaleAfter is how many of its intervals a check may send no result
	// before its rules go stale (its open alerts resolve).
	StaleAfter int `koanf:"stale_after"`
	// Rules apply to every check, by name.
	Rules map[string]Rule `koanf:"rules"`
	// Checks holds per-check overrides, by check id.
	Checks map[string]CheckRules `koanf:"checks"`
	// Silences are maintenance windows: transitions they cover are recorded
	// and flagged, and not notified.
	Silences []Silence `koanf:"silences"`
}

// DefaultConfig is the seed's availability rule on every check.
func DefaultConfig() Config {
	return Config{Lateness: 30 * time.Second, RestoreHorizon: 10 * time.Minute, MaxPageAge: time.Minute, StaleAfter: 5,
		Rules: map[string]Rule{"availability": DefaultRule()}}
}

// For returns checkID's rules, sorted by name.
func (c Config) For(checkID string) []NamedRule {
	merged := map[string]Rule{}
	for name, r := range c.Rules {
		merged[name] = r
	}
	for name, r := range c.Checks[checkID].Rules {
		if d, ok := merged[name]; ok {
			r = r.inherit(d)
		}
		merged[name] = r
	}
	out := make([]NamedRule, 0, len(merged))
	for name, r := range merged {
		if !r.Disabled {
			out = append(out, NamedRule{Name: name, Rule: r})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MaxLookback is the longest history any configured rule needs at interval.
func (c Config) MaxLookback(interval time.Duration) time.Duration {
	var lb time.Duration
	check := func(rs map[string]Rule) {
		for _, r := range rs {
			lb = max(lb, r.Lookback(interval))
		}
	}
	check(c.Rules)
	for _, cr := range c.Checks {
		check(cr.Rules)
	}
	return lb
}

// MaxBurnWindow is the longest long window of any burn_rate rule (0: none):
// how far back a restore rebuilds their counters from the minute rollups.
func (c Config) MaxBurnWindow() time.Duration {
	var w time.Duration
	check := func(r Rule) {
		if r.Kind == KindBurnRate {
			for _, p := range r.burnWindows() {
				w = max(w, p.Long)
			}
		}
	}
	for _, r := range c.Rules {
		check(r)
	}
	for _, cr := range c.Checks {
		for name, r := range cr.Rules {
			if d, ok := c.Rules[name]; ok {
				r = r.inherit(d)
			}
			check(r)
		}
	}
	return w
}

// Validate names the offending key.
func (c Config) Validate() error {
	if c.Lateness < 0 {
		return fmt.Errorf("alerting.lateness: %s must not be negative", c.Lateness)
	}
	if c.MaxPageAge < 0 {
		return fmt.Errorf("alerting.max_page_age: %s must not be negative (0 pages every transition)", c.MaxPageAge)
	}
	if c.MaxPageAge > 0 && c.MaxPageAge <= c.Lateness {
		return fmt.Errorf("alerting.max_page_age: %s must be longer than alerting.lateness (%s): a transition that waited for a late result would never be paged (0 pages every transition)", c.MaxPageAge, c.Lateness)
	}
	if c.StaleAfter < 1 {
		return fmt.Errorf("alerting.stale_after: %d must be at least 1 (intervals without a result before a check is stale)", c.StaleAfter)
	}
	if c.RestoreHorizon <= 0 {
		return fmt.Errorf("alerting.restore_horizon: %s must be positive", c.RestoreHorizon)
	}
	if lb := c.MaxLookback(0); c.RestoreHorizon <= lb {
		return fmt.Errorf("alerting.restore_horizon: %s must be longer than the longest rule window (%s)", c.RestoreHorizon, lb)
	}
	var errs []error
	for _, name := range sortedKeys(c.Rules) {
		errs = append(errs, validName("alerting.rules", name), c.Rules[name].Validate("alerting.rules."+name))
	}
	for _, id := range sortedKeys(c.Checks) {
		overrides := c.Checks[id].Rules
		for _, name := range sortedKeys(overrides) {
			r := overrides[name]
			if d, ok := c.Rules[name]; ok {
				r = r.inherit(d)
			}
			if r.Disabled {
				continue
			}
			errs = append(errs, validName("alerting.checks."+id+".rules", name),
				r.Validate("alerting.checks."+id+".rules."+name))
		}
	}
	for i, s := range c.Silences {
		errs = append(errs, s.Validate(fmt.Sprintf("alerting.silences[%d]", i)))
	}
	return errors.Join(errs...)
}

func validName(prefix, name string) error {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%s.%s: rule name must be lower-case letters, digits, - and _", prefix, name)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
