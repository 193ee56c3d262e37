package alert

import "time"

// State is where one rule of one check stands.
type State struct {
	// State is up, down, degraded or stale; empty means up.
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

// Open reports whether the state is an alert: down or degraded.
func Open(state string) bool { return state == StateDown || state == StateDegraded }

// Transition is a change of state of one rule, with its evidence.
type Transition struct {
	EventID   string
	CheckID   string
	CheckName string
	// CheckType is the probe kind ("http", "tcp", "dns", "tls"): messages
	// name it.
	CheckType string
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
	// Burn is a burn_rate transition's evidence: the window pair and its
	// burn rates (Value is the long window's).
	Burn     *BurnEvidence
	Silenced bool
	Silence  string
	// Silent is, for a transition to stale, how long the check had sent no
	// result (StaleAfter intervals).
	Silent           time.Duration
	Summary, Message string
	// DetectedAt is the wall-clock time the aggregator decided the
	// transition, and Historical says it was then older than the page age:
	// recorded, never paged. Set when published, not by the tracker (which
	// never reads the wall clock).
	DetectedAt time.Time
	Historical bool
}
