package api

import (
	"context"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// An alert's deliveries are its attempts per destination from the
// notifier's log, newest first; a known event without any is an empty
// list; an event id the history does not hold is a 404.
func TestAlertDeliveries(t *testing.T) {
	srv, st := newServer(t)
	ctx := context.Background()
	at := now.Add(-10 * time.Minute)
	if err := st.InsertAlerts(ctx, []store.AlertRow{
		{EventID: "e1", CheckID: "api", CheckName: "API", Rule: "availability", State: "down", PreviousState: "up", At: at},
		{EventID: "e2", CheckID: "api", CheckName: "API", Rule: "availability", State: "up", PreviousState: "down", At: at.Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertDeliveries(ctx, []store.DeliveryRow{
		{EventID: "e1", NotificationKey: "k1", Destination: "ops", Attempt: 1, Status: "retry", LatencyMS: 15.5, Error: "https://hooks.example.com answered 503", At: at.Add(time.Second)},
		{EventID: "e1", NotificationKey: "k1", Destination: "ops", Attempt: 2, Status: "delivered", LatencyMS: 5, At: at.Add(3 * time.Second)},
		{EventID: "e1", Destination: "chat", Status: "silenced", At: at.Add(2 * time.Second)},
		{EventID: "other", NotificationKey: "k9", Destination: "ops", Attempt: 1, Status: "delivered", At: at.Add(time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	var d DeliveriesJSON
	get(t, srv.URL+"/api/v1/alerts/e1/deliveries", 200, &d)
	if d.EventID != "e1" || len(d.Deliveries) != 3 {
		t.Fatalf("deliveries %+v", d)
	}
	first, silenced, retry := d.Deliveries[0], d.Deliveries[1], d.Deliveries[2]
	if first != (DeliveryJSON{Destination: "ops", NotificationKey: "k1", Attempt: 2, Status: "delivered", LatencyMS: 5, At: at.Add(3 * time.Second).UTC()}) ||
		silenced.Destination != "chat" || silenced.Status != "silenced" || silenced.Attempt != 0 ||
		retry.Attempt != 1 || retry.Error != "https://hooks.example.com answered 503" || retry.LatencyMS != 15.5 {
		t.Fatalf("deliveries %+v", d.Deliveries)
	}

	var none DeliveriesJSON
	get(t, srv.URL+"/api/v1/alerts/e2/deliveries", 200, &none)
	if none.EventID != "e2" || none.Deliveries == nil || len(none.Deliveries) != 0 {
		t.Fatalf("known event without deliveries: %+v", none)
	}
	var p Problem
	get(t, srv.URL+"/api/v1/alerts/nope/deliveries", 404, &p)
	if p.Title != "Unknown alert event" || p.Detail != `no alert event "nope" is stored` {
		t.Fatalf("unknown event: %+v", p)
	}
}
