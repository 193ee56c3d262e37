package notifier

import (
	"fmt"
	"slices"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// DeliveryConfig is how the notifier delivers to every destination: its
// retry and parking policy, and per-destination overrides. Its topics are in
// the kafka section (notifier_state_topic, notify_dead_letter_topic), so
// whatever creates Picket's topics creates them too.
type DeliveryConfig struct {
	// LogToClickHouse writes the delivery log (every attempt, every event
	// not sent and why) to the notification_deliveries table of the
	// `clickhouse` section's server.
	LogToClickHouse bool `koanf:"log_to_clickhouse"`
	// InstanceID, when set, makes this process a static member of each
	// destination's consumer group (instance_id + "." + destination): a
	// restart takes its partitions back at once instead of waiting for the
	// old member's session to time out. Two live processes must not share
	// one.
	InstanceID string `koanf:"instance_id"`
	// Policy applies to every destination unless overridden.
	Policy Policy `koanf:"policy"`
	// Destinations overrides the policy by destination name.
	Destinations map[string]Policy `koanf:"destinations"`
}

// Policy is one destination's retry, parking and rate policy. Zero fields
// take the delivery-wide value, then the default of the sink's kind.
type Policy struct {
	// MaxAttempts parks an event after this many failed attempts.
	MaxAttempts int `koanf:"max_attempts"`
	// MaxAge parks an event whose failed attempt comes this long after the
	// event was written to the alert topic. It is also how far back a
	// destination seen for the first time starts reading.
	MaxAge time.Duration `koanf:"max_age"`
	// BackoffInitial and BackoffMax bound the exponential backoff (with
	// jitter) between attempts; a Retry-After longer than it is honoured.
	BackoffInitial time.Duration `koanf:"backoff_initial"`
	BackoffMax     time.Duration `koanf:"backoff_max"`
	// RatePerSecond caps the messages sent per second (0: the kind's
	// default; negative: unlimited).
	RatePerSecond float64 `koanf:"rate_per_second"`
	// Concurrency is how many messages may be in flight to the destination
	// at once (never two of one alert); 1 while it is failing.
	Concurrency int `koanf:"concurrency"`
	// StallAfter is how long a destination may fail to make progress with
	// events waiting before it is reported stalled.
	StallAfter time.Duration `koanf:"stall_after"`
}

// DefaultDelivery is the default delivery configuration.
func DefaultDelivery() DeliveryConfig {
	return DeliveryConfig{
		Policy: Policy{
			MaxAttempts:    20,
			MaxAge:         time.Hour,
			BackoffInitial: time.Second,
			BackoffMax:     5 * time.Minute,
			StallAfter:     time.Minute,
			Concurrency:    1,
		},
	}
}

// kindRate is each kind's default message rate: what the service documents
// it accepts from one webhook.
var kindRate = map[string]float64{
	"slack":     1,          // one message per second per webhook
	"pagerduty": 120.0 / 60, // 120 events per minute per integration key
	"discord":   0.5,        // 30 per minute per webhook
	"teams":     1,
}

// forDestination merges p over the delivery-wide values and the defaults of
// kind.
func (d DeliveryConfig) forDestination(name, kind string) Policy {
	p := d.Policy
	o := d.Destinations[name]
	if o.MaxAttempts != 0 {
		p.MaxAttempts = o.MaxAttempts
	}
	if o.MaxAge != 0 {
		p.MaxAge = o.MaxAge
	}
	if o.BackoffInitial != 0 {
		p.BackoffInitial = o.BackoffInitial
	}
	if o.BackoffMax != 0 {
		p.BackoffMax = o.BackoffMax
	}
	if o.RatePerSecond != 0 {
		p.RatePerSecond = o.RatePerSecond
	}
	if o.StallAfter != 0 {
		p.StallAfter = o.StallAfter
	}
	if o.Concurrency != 0 {
		p.Concurrency = o.Concurrency
	}
	if p.RatePerSecond == 0 {
		p.RatePerSecond = kindRate[kind]
	}
	if p.BackoffMax < p.BackoffInitial {
		p.BackoffMax = p.BackoffInitial
	}
	return p
}

// Validate names the offending key.
func (d DeliveryConfig) Validate(destinations []string) error {
	if err := d.Policy.validate("delivery.policy", true); err != nil {
		return err
	}
	for name, p := range d.Destinations {
		if !slices.Contains(destinations, name) {
			return fmt.Errorf("delivery.destinations.%s: no destination has this name", name)
		}
		if err := p.validate("delivery.destinations."+name, false); err != nil {
			return err
		}
	}
	return nil
}

func (p Policy) validate(key string, required bool) error {
	switch {
	case p.MaxAttempts < 0 || (required && p.MaxAttempts == 0):
		return fmt.Errorf("%s.max_attempts: %d, must be at least 1", key, p.MaxAttempts)
	case p.MaxAge < 0 || (required && p.MaxAge == 0):
		return fmt.Errorf("%s.max_age: %s, must be positive", key, p.MaxAge)
	case p.BackoffInitial < 0 || (required && p.BackoffInitial == 0):
		return fmt.Errorf("%s.backoff_initial: %s, must be positive", key, p.BackoffInitial)
	case p.BackoffMax < 0:
		return fmt.Errorf("%s.backoff_max: %s, must not be negative", key, p.BackoffMax)
	case p.StallAfter < 0 || (required && p.StallAfter == 0):
		return fmt.Errorf("%s.stall_after: %s, must be positive", key, p.StallAfter)
	case p.Concurrency < 0 || (required && p.Concurrency == 0) || p.Concurrency > 64:
		return fmt.Errorf("%s.concurrency: %d, must be 1 to 64", key, p.Concurrency)
	}
	return nil
}

// RouteConfig picks destinations for the events it matches. Routes are tried
// in order; the first match decides unless it says continue, when the next
// matching routes add theirs. With no routes, every event goes to every
// destination, one message each.
type RouteConfig struct {
	Match        RouteMatch `koanf:"match"`
	Destinations []string   `koanf:"destinations"`
	Continue     bool       `koanf:"continue"`
	// GroupBy names what events are grouped by: "check", "rule", "state",
	// "severity" or a check label. Grouping is on when GroupWait is set;
	// an empty GroupBy then puts every event of the route in one group.
	GroupBy []string `koanf:"group_by"`
	// GroupWait is how long the first event of a group waits for others;
	// GroupInterval how long after a group's message the next one for new
	// events of that group waits.
	GroupWait     time.Duration `koanf:"group_wait"`
	GroupInterval time.Duration `koanf:"group_interval"`
	// RepeatInterval re-sends an alert's notification while it stays down
	// or degraded (0: no reminders).
	RepeatInterval time.Duration `koanf:"repeat_interval"`
	// SendResolved sends recoveries (up, and stale after down/degraded);
	// default true.
	SendResolved *bool `koanf:"send_resolved"`
}

// RouteMatch is what a route matches; empty fields match everything, and
// every non-empty field must match.
type RouteMatch struct {
	Checks     []string          `koanf:"checks"`
	Rules      []string          `koanf:"rules"`
	States     []string          `koanf:"states"`
	Severities []string          `koanf:"severities"`
	Labels     map[string]string `koanf:"labels"`
}

var (
	validStates     = []string{"up", "down", "degraded", "stale"}
	validSeverities = []string{"critical", "warning", "info"}
)

func validateRoutes(routes []RouteConfig, destinations []string) error {
	for i, r := range routes {
		key := fmt.Sprintf("routes[%d]", i)
		if len(r.Destinations) == 0 {
			return fmt.Errorf("%s.destinations: required", key)
		}
		for j, d := range r.Destinations {
			if !slices.Contains(destinations, d) {
				return fmt.Errorf("%s.destinations[%d]: %q is not a configured destination", key, j, d)
			}
		}
		for j, s := range r.Match.States {
			if !slices.Contains(validStates, s) {
				return fmt.Errorf("%s.match.states[%d]: %q, want one of %v", key, j, s, validStates)
			}
		}
		for j, s := range r.Match.Severities {
			if !slices.Contains(validSeverities, s) {
				return fmt.Errorf("%s.match.severities[%d]: %q, want one of %v", key, j, s, validSeverities)
			}
		}
		switch {
		case r.GroupWait < 0:
			return fmt.Errorf("%s.group_wait: %s must not be negative", key, r.GroupWait)
		case r.GroupInterval < 0:
			return fmt.Errorf("%s.group_interval: %s must not be negative", key, r.GroupInterval)
		case r.RepeatInterval < 0:
			return fmt.Errorf("%s.repeat_interval: %s must not be negative", key, r.RepeatInterval)
		case len(r.GroupBy) > 0 && r.GroupWait == 0:
			return fmt.Errorf("%s.group_wait: required with group_by", key)
		}
	}
	return nil
}

// Severity is an event's severity: critical for down, warning for degraded,
// and for a recovery the severity of what it recovers from.
func Severity(ev *eventsv1.AlertStateChanged) string {
	s := ev.GetState()
	if s == eventsv1.AlertState_ALERT_STATE_UP || s == eventsv1.AlertState_ALERT_STATE_STALE {
		s = ev.GetPreviousState()
	}
	switch s {
	case eventsv1.AlertState_ALERT_STATE_DOWN:
		return "critical"
	case eventsv1.AlertState_ALERT_STATE_DEGRADED:
		return "warning"
	}
	return "info"
}

func (m RouteMatch) matches(ev *eventsv1.AlertStateChanged, labels map[string]string) bool {
	if len(m.Checks) > 0 && !slices.Contains(m.Checks, ev.GetCheckId()) {
		return false
	}
	if len(m.Rules) > 0 && !slices.Contains(m.Rules, ev.GetRule()) {
		return false
	}
	if len(m.States) > 0 && !slices.Contains(m.States, deliver.StateLabel(ev.GetState())) {
		return false
	}
	if len(m.Severities) > 0 && !slices.Contains(m.Severities, Severity(ev)) {
		return false
	}
	for k, v := range m.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// route is the route that sends an event to one destination, or nil.
func route(routes []RouteConfig, dest string, ev *eventsv1.AlertStateChanged, labels map[string]string) *RouteConfig {
	if len(routes) == 0 {
		return &RouteConfig{}
	}
	for i := range routes {
		r := &routes[i]
		if !r.Match.matches(ev, labels) {
			continue
		}
		if slices.Contains(r.Destinations, dest) {
			return r
		}
		if !r.Continue {
			return nil
		}
	}
	return nil
}

func (r *RouteConfig) sendResolved() bool { return r.SendResolved == nil || *r.SendResolved }

// groupKey is the group an event falls in on r: the route and the values of
// its group_by keys.
func (r *RouteConfig) groupKey(ev *eventsv1.AlertStateChanged, labels map[string]string) (string, map[string]string) {
	vals := map[string]string{}
	key := fmt.Sprintf("%p", r)
	for _, g := range r.GroupBy {
		var v string
		switch g {
		case "check":
			v = ev.GetCheckId()
		case "rule":
			v = ev.GetRule()
		case "state":
			v = deliver.StateLabel(ev.GetState())
		case "severity":
			v = Severity(ev)
		default:
			v = labels[g]
		}
		vals[g] = v
		key += "\x00" + g + "=" + v
	}
	return key, vals
}
