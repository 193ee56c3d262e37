package deliver

import (
	"math"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// PayloadVersion is the generic webhook payload's version. Fields are only
// ever added within a version; a rename or removal would be version 2.
const PayloadVersion = 1

// Payload is the JSON document generic webhooks receive, described by
// schemas/webhook/payload.v1.schema.json. Field names are a public contract:
// add, never rename.
type Payload struct {
	Version       int     `json:"version"`
	EventID       string  `json:"event_id"`
	CheckID       string  `json:"check_id"`
	CheckName     string  `json:"check_name"`
	Rule          string  `json:"rule"`
	State         string  `json:"state"`
	PreviousState string  `json:"previous_state"`
	At            string  `json:"at"`
	Message       string  `json:"message"`
	Availability  float64 `json:"availability"`
	Threshold     float64 `json:"threshold"`
	WindowSeconds float64 `json:"window_seconds"`
	Samples       uint32  `json:"samples"`
	Successes     uint32  `json:"successes"`
	DownSince     string  `json:"down_since,omitempty"`
	LastResultID  string  `json:"last_result_id"`
	// Since version 1's first extension: the rule's kind and what it
	// measured (value in unit), the evidence's first result, the deciding
	// location and the failing ones out of those active, and a title.
	Kind             string   `json:"kind"`
	Value            float64  `json:"value"`
	Unit             string   `json:"unit"`
	FirstResultID    string   `json:"first_result_id"`
	Location         string   `json:"location"`
	FailingLocations []string `json:"failing_locations"`
	Locations        uint32   `json:"locations"`
	Quorum           uint32   `json:"quorum"`
	Summary          string   `json:"summary"`
	// Since the second extension: whether the transition was found late
	// (recorded, never paged), when the aggregator decided it, the check's
	// page, and the destination's rendered title and text.
	Historical bool   `json:"historical"`
	DetectedAt string `json:"detected_at,omitempty"`
	CheckURL   string `json:"check_url,omitempty"`
	Title      string `json:"title,omitempty"`
	Text       string `json:"text,omitempty"`
	// A grouped notification: the label values the group shares, and every
	// event in it (the first one included, whose fields the top level
	// repeats so a receiver of single events still reads a group).
	Group  map[string]string `json:"group,omitempty"`
	Events []Payload         `json:"events,omitempty"`
	// Repeat is n for the n-th reminder of an alert still open.
	Repeat int `json:"repeat,omitempty"`
}

// NewPayload converts an event to the webhook payload.
func NewPayload(ev *eventsv1.AlertStateChanged) Payload {
	p := Payload{
		Version:       PayloadVersion,
		EventID:       ev.GetEventId(),
		CheckID:       ev.GetCheckId(),
		CheckName:     ev.GetCheckName(),
		Rule:          ev.GetRule(),
		State:         StateLabel(ev.GetState()),
		PreviousState: StateLabel(ev.GetPreviousState()),
		At:            ev.GetAt().AsTime().UTC().Format(time.RFC3339Nano),
		Message:       ev.GetMessage(),
		Availability:  finite(ev.GetAvailability()),
		Threshold:     finite(ev.GetThreshold()),
		WindowSeconds: ev.GetWindow().AsDuration().Seconds(),
		Samples:       ev.GetSamples(),
		Successes:     ev.GetSuccesses(),
		LastResultID:  ev.GetLastResultId(),

		Kind:             ev.GetKind(),
		Value:            finite(ev.GetValue()),
		Unit:             ev.GetUnit(),
		FirstResultID:    ev.GetFirstResultId(),
		Location:         ev.GetLocation(),
		FailingLocations: ev.GetFailingLocations(),
		Locations:        ev.GetLocations(),
		Quorum:           ev.GetQuorum(),
		Summary:          ev.GetSummary(),

		Historical: ev.GetHistorical(),
	}
	if p.FailingLocations == nil {
		p.FailingLocations = []string{}
	}
	if ev.GetDownSince() != nil {
		p.DownSince = ev.GetDownSince().AsTime().UTC().Format(time.RFC3339Nano)
	}
	if ev.GetDetectedAt() != nil {
		p.DetectedAt = ev.GetDetectedAt().AsTime().UTC().Format(time.RFC3339Nano)
	}
	return p
}

// finite maps NaN and ±Inf, which JSON cannot carry, to 0: a bad number in
// an event must not keep its notification from being delivered.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
