// Package alert evaluates the availability rule of each check over event time.
//
// Evaluation is a pure function of the results seen, in the order of their
// scheduled times: it never reads the wall clock, so the same results yield
// the same transitions, with the same ids, live or replayed.
package alert

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// RuleName is the name of the availability rule in events and storage.
const RuleName = "availability"

// Rule opens an alert when availability over the trailing Window drops below
// Threshold, and closes it when availability is back at or above it.
type Rule struct {
	// Threshold is the minimum acceptable availability, 0..1.
	Threshold float64 `koanf:"threshold"`
	// Window is how far back from each result the rule looks.
	Window time.Duration `koanf:"window"`
	// MinSamples is how many results the window needs before the rule says
	// anything; 0 means half of what the check's interval implies (at least 1).
	MinSamples int `koanf:"min_samples"`
}

// DefaultRule is the seed's rule: below 80 % over 2 minutes.
func DefaultRule() Rule { return Rule{Threshold: 0.8, Window: 2 * time.Minute} }

// Validate names the offending key under prefix.
func (r Rule) Validate(prefix string) error {
	switch {
	case math.IsNaN(r.Threshold) || r.Threshold <= 0 || r.Threshold > 1:
		return fmt.Errorf("%s.threshold: %v must be in (0, 1]", prefix, r.Threshold)
	case r.Window <= 0:
		return fmt.Errorf("%s.window: %s must be positive", prefix, r.Window)
	case r.MinSamples < 0:
		return fmt.Errorf("%s.min_samples: %d must not be negative", prefix, r.MinSamples)
	}
	return nil
}

// minSamples is the number of results the window needs, given the check's interval.
func (r Rule) minSamples(interval time.Duration) int {
	if r.MinSamples > 0 {
		return r.MinSamples
	}
	if interval <= 0 {
		return 1
	}
	return max(1, int(r.Window/interval)/2)
}

// Rules are the default rule and per-check overrides.
type Rules struct {
	Default Rule            `koanf:"default"`
	Checks  map[string]Rule `koanf:"checks"`
}

// For returns the rule of checkID.
func (rs Rules) For(checkID string) Rule {
	if r, ok := rs.Checks[checkID]; ok {
		return r
	}
	return rs.Default
}

// Validate names the offending key.
func (rs Rules) Validate() error {
	if err := rs.Default.Validate("alerting.default"); err != nil {
		return err
	}
	var errs []error
	for id, r := range rs.Checks {
		if err := r.Validate("alerting.checks." + id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
