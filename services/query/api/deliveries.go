package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/picket-dev/picket/platform/store"
)

// DeliveriesJSON is the body of GET /api/v1/alerts/{eventID}/deliveries.
type DeliveriesJSON struct {
	EventID    string         `json:"event_id"`
	Deliveries []DeliveryJSON `json:"deliveries"`
}

// DeliveryJSON is one attempt to send an alert's notification to a
// destination, or the notifier's decision not to send it.
type DeliveryJSON struct {
	Destination string `json:"destination"`
	// NotificationKey is the webhook-id the receiver saw.
	NotificationKey string `json:"notification_key"`
	Attempt         uint32 `json:"attempt"`
	// Status is the outcome as the notifier records it: delivered, a failed
	// attempt's outcome, parked, or why it was not sent (silenced,
	// historical, stale, resolved_not_sent, …).
	Status    string    `json:"status"`
	LatencyMS float64   `json:"latency_ms"`
	Error     string    `json:"error"`
	At        time.Time `json:"at"`
}

// maxDeliveries bounds one answer: an event's attempts, over every
// destination, are a handful, a retried one a few dozen.
const maxDeliveries = 1000

// deliveries answers GET /api/v1/alerts/{eventID}/deliveries from the
// notifier's delivery log, newest first: 404 for an event id alert_events
// does not hold, [] for a known event not (yet) notified.
func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "eventID")
	at, known, err := a.store.AlertEventAt(r.Context(), id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if !known {
		writeProblem(w, Problem{Status: http.StatusNotFound, Title: "Unknown alert event",
			Detail: fmt.Sprintf("no alert event %q is stored", id)})
		return
	}
	// The notifier records each attempt after the transition; an hour's
	// margin covers clocks that disagree.
	rows, err := a.store.Deliveries(r.Context(), store.DeliveryQuery{EventID: id, From: at.Add(-time.Hour),
		To: a.now().Add(time.Hour), Limit: maxDeliveries})
	if err != nil {
		a.internal(w, r, err)
		return
	}
	out := DeliveriesJSON{EventID: id, Deliveries: make([]DeliveryJSON, len(rows))}
	for i, d := range rows {
		out.Deliveries[i] = DeliveryJSON{Destination: d.Destination, NotificationKey: d.NotificationKey, Attempt: d.Attempt,
			Status: d.Status, LatencyMS: d.LatencyMS, Error: d.Error, At: d.At.UTC()}
	}
	writeJSON(w, out)
}
