package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// PagerDutyURL is the Events API v2 endpoint (events.eu.pagerduty.com for
// EU accounts: set the destination's url).
const PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// Events API v2 limits.
const (
	pdSummaryMax  = 1024
	pdDedupKeyMax = 255
	pdSourceMax   = 255
)

// PagerDuty sends Events API v2 events: trigger when a rule goes down or
// degraded, resolve when it is up again or the check went stale (an alert
// nobody can observe any more is closed, with the message saying why). The
// dedup_key is "picket/<check>/<rule>", so the resolve closes the incident
// the trigger opened and a repeated trigger updates it instead of paging
// again.
type PagerDuty struct {
	p          *poster
	routingKey string
	severity   map[string]string // by state label; PagerDutySeverity otherwise
	tmpl       Templates
	links      LinksConfig
}

var _ Sink = (*PagerDuty)(nil)

// Name implements Sink.
func (pd *PagerDuty) Name() string { return pd.p.name }

// Kind implements Sink.
func (pd *PagerDuty) Kind() string { return "pagerduty" }

// String shows the destination without its routing key.
func (pd *PagerDuty) String() string { return pd.p.String() }

// GoString is String.
func (pd *PagerDuty) GoString() string { return pd.p.String() }

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// PagerDutySeverity maps a state to an Events API severity: down is
// critical, degraded a warning.
func PagerDutySeverity(s eventsv1.AlertState) string {
	if s == eventsv1.AlertState_ALERT_STATE_DEGRADED {
		return "warning"
	}
	return "critical"
}

func (pd *PagerDuty) severityOf(s eventsv1.AlertState) string {
	if v := pd.severity[StateLabel(s)]; v != "" {
		return v
	}
	return PagerDutySeverity(s)
}

// PagerDutyDedupKey is the incident key of a check's rule.
func PagerDutyDedupKey(checkID, rule string) string {
	k := "picket/" + checkID + "/" + rule
	if len(k) > pdDedupKeyMax {
		// Still unique per check and rule: the tail is a hash.
		sum := sha256.Sum256([]byte(k))
		k = strings.ToValidUTF8(k[:pdDedupKeyMax-33], "") + "~" + hex.EncodeToString(sum[:16])
	}
	return k
}

// Bodies are the JSON events PagerDuty gets for n: one per event (the
// Events API takes one alert per request; PagerDuty groups on its side).
// An event in a state that is neither a problem nor a recovery gives none.
func (pd *PagerDuty) Bodies(n Notification) ([][]byte, error) {
	d := NewData(n, pd.p.name, pd.links)
	var out [][]byte
	for i, ev := range n.Events {
		e := pdEvent{RoutingKey: pd.routingKey, DedupKey: PagerDutyDedupKey(ev.GetCheckId(), ev.GetRule())}
		switch ev.GetState() {
		case eventsv1.AlertState_ALERT_STATE_UP, eventsv1.AlertState_ALERT_STATE_STALE:
			e.EventAction = "resolve"
		case eventsv1.AlertState_ALERT_STATE_DOWN, eventsv1.AlertState_ALERT_STATE_DEGRADED:
			e.EventAction = "trigger"
			one := d
			one.Event, one.Events, one.Count = d.Events[i], d.Events[i:i+1], 1
			_, text, _ := pd.tmpl.Render(one)
			summary := oneLine(text)
			if summary == "Picket alert" && one.Summary != "" {
				summary = one.Summary
			}
			source := ev.GetCheckName()
			if source == "" {
				source = ev.GetCheckId()
			}
			e.Payload = &pdPayload{
				Summary:   truncate(summary, pdSummaryMax),
				Source:    truncate(source, pdSourceMax),
				Severity:  pd.severityOf(ev.GetState()),
				Timestamp: ev.GetAt().AsTime().UTC().Format(time.RFC3339Nano),
				Component: ev.GetCheckId(),
				Group:     ev.GetLocation(),
				Class:     ev.GetKind(),
				CustomDetails: map[string]any{
					"message": ev.GetMessage(), "rule": ev.GetRule(), "reason": one.Reason,
					"state": StateLabel(ev.GetState()), "previous_state": StateLabel(ev.GetPreviousState()),
					"value": finite(ev.GetValue()), "unit": ev.GetUnit(), "threshold": finite(ev.GetThreshold()),
					"failing_locations": strings.Join(ev.GetFailingLocations(), ","),
					"first_result_id":   ev.GetFirstResultId(), "last_result_id": ev.GetLastResultId(),
					"event_id": ev.GetEventId(),
				},
			}
			e.Client = "Picket"
			if l := one.Links.Check; l != "" {
				e.ClientURL = l
				e.Links = []pdLink{{Href: l, Text: "Check in Picket"}}
			}
		default:
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, &Error{Outcome: Permanent, msg: fmt.Sprintf("pagerduty %s: encoding the event: %v", pd.p.name, err)}
		}
		out = append(out, b)
	}
	return out, nil
}

// Send implements Sink. PagerDuty answers 202; 400 is an invalid event, 429
// a rate limit. For a group the events go one after the other and the
// first failure is returned: sending them all again is harmless, because
// PagerDuty deduplicates on dedup_key.
func (pd *PagerDuty) Send(ctx context.Context, n Notification) error {
	bodies, err := pd.Bodies(n)
	if err != nil {
		return err
	}
	for _, b := range bodies {
		if _, err := pd.p.post(ctx, http.Header{}, b); err != nil {
			return err
		}
	}
	return nil
}
