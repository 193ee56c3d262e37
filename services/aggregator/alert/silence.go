package alert

import (
	"fmt"
	"slices"
	"time"
)

// Silence is a maintenance window: a transition of a matching check whose
// event time falls in [From, To) is still recorded, flagged as silenced, and
// not notified.
type Silence struct {
	// Name identifies the silence in events and logs.
	Name string `koanf:"name"`
	// Checks and Labels select the checks: a check matches when its id is
	// listed, or when it carries every label given. At least one is required.
	Checks []string          `koanf:"checks"`
	Labels map[string]string `koanf:"labels"`
	// Rules, when set, limits the silence to these rule names.
	Rules  []string  `koanf:"rules"`
	From   time.Time `koanf:"from"`
	To     time.Time `koanf:"to"`
	Reason string    `koanf:"reason"`
}

// Validate names the offending key under prefix.
func (s Silence) Validate(prefix string) error {
	switch {
	case s.Name == "":
		return fmt.Errorf("%s.name: must not be empty", prefix)
	case len(s.Checks) == 0 && len(s.Labels) == 0:
		return fmt.Errorf("%s: needs checks or labels, or it would silence everything", prefix)
	case s.From.IsZero():
		return fmt.Errorf("%s.from: required (RFC 3339 time)", prefix)
	case s.To.IsZero():
		return fmt.Errorf("%s.to: required (RFC 3339 time)", prefix)
	case !s.To.After(s.From):
		return fmt.Errorf("%s.to: %s must be after from (%s)", prefix, s.To.Format(time.RFC3339), s.From.Format(time.RFC3339))
	}
	return nil
}

// Matches reports whether the silence covers a transition of rule for the
// check with checkID and labels at event time at.
func (s Silence) Matches(checkID string, labels map[string]string, rule string, at time.Time) bool {
	if at.Before(s.From) || !at.Before(s.To) {
		return false
	}
	if len(s.Rules) > 0 && !slices.Contains(s.Rules, rule) {
		return false
	}
	if slices.Contains(s.Checks, checkID) {
		return true
	}
	if len(s.Labels) == 0 {
		return false
	}
	for k, v := range s.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// silencedBy returns the first silence covering the transition, if any.
func silencedBy(silences []Silence, checkID string, labels map[string]string, rule string, at time.Time) (Silence, bool) {
	for _, s := range silences {
		if s.Matches(checkID, labels, rule, at) {
			return s, true
		}
	}
	return Silence{}, false
}
