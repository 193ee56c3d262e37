package store

import (
	"context"
	"fmt"
	"time"
)

// DeliveryRow is one row of notification_deliveries: one attempt to send a
// notification to a destination, or one decision not to send an event.
type DeliveryRow struct {
	EventID         string    `ch:"event_id"`
	NotificationKey string    `ch:"notification_key"`
	Destination     string    `ch:"destination"`
	Attempt         uint32    `ch:"attempt"`
	Status          string    `ch:"status"`
	LatencyMS       float64   `ch:"latency_ms"`
	Error           string    `ch:"error"`
	At              time.Time `ch:"at"`
}

// InsertDeliveries records delivery attempts; the same row twice is one.
func (s *Store) InsertDeliveries(ctx context.Context, rows []DeliveryRow) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.b.Insert(ctx, s.sql("${db}.notification_deliveries"), rows); err != nil {
		return fmt.Errorf("insert %d deliveries: %w", len(rows), err)
	}
	return nil
}

// DeliveryQuery filters the delivery log.
type DeliveryQuery struct {
	EventID     string // empty: every event
	Destination string // empty: every destination
	From, To    time.Time
	Limit       int
}

// Deliveries is the delivery log for q, newest first.
func (s *Store) Deliveries(ctx context.Context, q DeliveryQuery) ([]DeliveryRow, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var rows []DeliveryRow
	err := s.b.Select(ctx, &rows, s.sql(`SELECT event_id, notification_key, destination, attempt, status, latency_ms, error, at
FROM ${db}.notification_deliveries FINAL
WHERE at >= {from:DateTime64(3, 'UTC')} AND at < {to:DateTime64(3, 'UTC')}
  AND ({event:String} = '' OR event_id = {event:String})
  AND ({dest:String} = '' OR destination = {dest:String})
ORDER BY at DESC, attempt DESC
LIMIT {limit:UInt32}`), Params{
		"from": TimeParam(q.From), "to": TimeParam(q.To), "event": q.EventID, "dest": q.Destination,
		"limit": fmt.Sprint(q.Limit),
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	return rows, nil
}

// AlertEventAt is the time of the transition eventID names, and whether
// alert_events holds it.
func (s *Store) AlertEventAt(ctx context.Context, eventID string) (time.Time, bool, error) {
	var out []struct {
		At time.Time `ch:"at"`
	}
	err := s.b.Select(ctx, &out, s.sql(`SELECT at FROM ${db}.alert_events WHERE event_id = {event:String} LIMIT 1`),
		Params{"event": eventID})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("alert event %q: %w", eventID, err)
	}
	if len(out) == 0 {
		return time.Time{}, false, nil
	}
	return out[0].At, true, nil
}
