package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// The delivery log keeps every attempt of a notification, newest first,
// filtered by event and destination; a row written twice is one.
func TestDeliveriesLog(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(12 * time.Hour)
	rows := []store.DeliveryRow{
		{EventID: "e1", NotificationKey: "e1", Destination: "ops", Attempt: 1, Status: "retry", LatencyMS: 12.5, Error: "https://hooks.example.com answered 503", At: t0},
		{EventID: "e1", NotificationKey: "e1", Destination: "ops", Attempt: 2, Status: "delivered", LatencyMS: 8, At: t0.Add(time.Second)},
		{EventID: "e1", NotificationKey: "e1", Destination: "pager", Attempt: 1, Status: "delivered", LatencyMS: 30, At: t0},
		{EventID: "e2", Destination: "ops", Status: "silenced", At: t0.Add(time.Minute)},
	}
	for range 2 {
		if err := s.InsertDeliveries(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Deliveries(ctx, store.DeliveryQuery{EventID: "e1", Destination: "ops", From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Status != "delivered" || got[0].Attempt != 2 || got[1].Error != rows[0].Error || got[1].LatencyMS != 12.5 {
		t.Fatalf("deliveries %+v", got)
	}
	all, err := s.Deliveries(ctx, store.DeliveryQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || len(all) != 4 || all[0].Status != "silenced" {
		t.Fatalf("all deliveries %+v, %v", all, err)
	}
}
