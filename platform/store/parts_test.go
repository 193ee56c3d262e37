package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// A batch of valid results over 120 days (a daily check's replay, or
// results the decoder accepts with any scheduled_at in [1970, 2100)) is
// stored: check_results is partitioned by month, and the view copying it
// into check_results_by_time (by day) must not refuse the insert.
func TestInsertSpanningManyDays(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	start := time.Now().UTC().Add(-130 * 24 * time.Hour).Truncate(time.Hour)
	var rows []store.ResultRow
	for d := range 120 {
		at := start.Add(time.Duration(d) * 24 * time.Hour)
		rows = append(rows, store.ResultRow{ResultID: "r" + at.Format(time.RFC3339), CheckID: "daily", CheckName: "daily", CheckType: "http",
			Location: "eu", ScheduledAt: at, StartedAt: at, IntervalMS: 86_400_000, Attempts: 1, HTTPStatus: 200, Success: true, DurationMS: 10})
	}
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatalf("insert of 120 daily results: %v", err)
	}
}
