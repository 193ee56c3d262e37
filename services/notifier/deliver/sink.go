// Package deliver renders alert notifications for each destination kind and
// sends them. One file per kind (webhook.go, slack.go, pagerduty.go,
// discord.go, teams.go), each implementing Sink.
//
// A sink delivers one notification, or classifies why it could not
// (retry, retry after a delay, permanent, destination gone); it never decides
// whether or when to try again: the notifier does. A sink must never put a
// secret — a URL's path or query, a signing key, a routing key — into an
// error, a log line or its String form: URLs appear as scheme and host only.
package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// Sink is one configured destination.
type Sink interface {
	// Name is the destination's configured name (metrics label, logs).
	Name() string
	// Kind is "webhook", "slack", "pagerduty", "discord" or "teams".
	Kind() string
	// Send delivers n. nil means the destination accepted it; otherwise the
	// error is an *Error (see Classify) saying whether trying again can help.
	Send(ctx context.Context, n Notification) error
}

// Notification is what one message to one destination is about: one alert
// state change, or several grouped into one message.
type Notification struct {
	// ID is the idempotency key receivers see (the generic webhook's
	// webhook-id). Empty means derived: the event id for one event, a hash of
	// the event ids for a group, with "-r<Repeat>" for a reminder (see Key).
	ID string
	// Events are the alert state changes, oldest first; at least one.
	Events []*eventsv1.AlertStateChanged
	// Group holds the label values the events were grouped by; nil when not
	// grouped.
	Group map[string]string
	// Repeat is 0 for the first notification of these events and n for the
	// n-th reminder while the alert stays open.
	Repeat int
	// Labels are the checks' labels by check id, when the caller knows them.
	Labels map[string]map[string]string
}

// Single is the notification of one event.
func Single(ev *eventsv1.AlertStateChanged) Notification {
	return Notification{Events: []*eventsv1.AlertStateChanged{ev}}
}

// Key is the notification's idempotency key: ID when set, else the event id
// of a single event, else "grp_" and a hash of the events' ids; a reminder
// adds "-r<Repeat>" so it is not dropped as a duplicate of the first message.
// The same events always give the same key, so a retried or replayed
// delivery carries the same webhook-id.
func (n Notification) Key() string {
	if n.ID != "" {
		return n.ID
	}
	var k string
	switch len(n.Events) {
	case 0:
		k = "empty"
	case 1:
		k = n.Events[0].GetEventId()
	default:
		h := sha256.New()
		for _, ev := range n.Events {
			h.Write([]byte(ev.GetEventId()))
			h.Write([]byte{0})
		}
		k = "grp_" + hex.EncodeToString(h.Sum(nil))[:32]
	}
	if n.Repeat > 0 {
		k += fmt.Sprintf("-r%d", n.Repeat)
	}
	return k
}

// Outcome classifies a failed delivery.
type Outcome int

// Outcomes. Delivered is the classification of a nil error.
const (
	Delivered Outcome = iota
	// Retry: a network error, a timeout, 408, 429 or 5xx. RetryAfter, when
	// set, is how long the destination asked to wait.
	Retry
	// Permanent: the destination refused this request (3xx, 4xx) or it
	// cannot be built or sent (an address the network policy refuses);
	// sending it again unchanged cannot succeed.
	Permanent
	// Gone: 410, the destination no longer exists (a deleted Slack or Teams
	// webhook); nothing more should be sent to it.
	Gone
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Gone:
		return "gone"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Error is a classified delivery failure. Its text names the destination and
// the URL's scheme and host, never a secret.
type Error struct {
	Outcome Outcome
	// RetryAfter is the destination's Retry-After, for Outcome Retry; 0 when
	// it gave none.
	RetryAfter time.Duration
	// Status is the HTTP status, 0 when there was no response.
	Status int
	msg    string
	err    error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// Classify says what a Send error means: Delivered for nil, the Error's
// outcome, or Retry for any other error (a cancelled context included: the
// caller stopped, the destination did not refuse).
func Classify(err error) (Outcome, time.Duration) {
	if err == nil {
		return Delivered, 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome, e.RetryAfter
	}
	return Retry, 0
}

// StateLabel is the lower-case name of a state: "up", "down", "degraded",
// "stale" ("unspecified" for the zero value).
func StateLabel(s eventsv1.AlertState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "ALERT_STATE_"))
}

// scrubber removes secret values from text that may echo them (a response
// body quoting the request, an error naming a URL).
type scrubber []string

func (s scrubber) scrub(text string) string {
	for _, v := range s {
		if len(v) >= 4 {
			text = strings.ReplaceAll(text, v, "[redacted]")
		}
	}
	return text
}

// Sample is the notification `picket notify test DESTINATION` sends: one
// made-up transition of a made-up check, marked as a test in its text, with
// a fresh id each time so a receiver does not drop it as a duplicate.
func Sample(now time.Time) Notification {
	at := timestamppb.New(now.UTC().Truncate(time.Second))
	return Single(&eventsv1.AlertStateChanged{
		EventId: fmt.Sprintf("test-%d", now.UnixNano()), CheckId: "picket-test", CheckName: "Picket test notification",
		Rule: "availability", Kind: "availability", State: eventsv1.AlertState_ALERT_STATE_DOWN,
		PreviousState: eventsv1.AlertState_ALERT_STATE_UP, At: at, DetectedAt: at,
		Message: "This is a test notification from Picket: no check is down.",
		Summary: "Picket test notification", Availability: 0.5, Value: 0.5, Threshold: 0.8, Unit: "ratio",
		Samples: 10, Successes: 5, Location: "test", Locations: 1, Quorum: 1,
	})
}
