package store

import (
	"testing"
	"time"
)

// Where Series starts reading raw rows: from the first step wholly after the
// raw rows surely kept, for a check sparse enough.
func TestSeriesRawFrom(t *testing.T) {
	now := time.Date(2026, 12, 2, 13, 20, 0, 0, time.UTC)
	rawFrom := now.Add(-rawTTL + rawTTLMargin) // 2 Nov 13:20:30
	for _, c := range []struct {
		name     string
		window   time.Duration
		step     time.Duration
		interval time.Duration
		want     string // "" for the rollups only
	}{
		{"24 h of a sparse check: all raw", 24 * time.Hour, 5 * time.Minute, 30 * time.Minute, "2026-12-01T13:20:00Z"},
		{"30 d at 1 h of a check every minute: the first hours from the rollups", 30 * 24 * time.Hour, time.Hour, time.Minute, "2026-11-02T14:00:00Z"},
		{"30 d at 1 d: the first day from the rollups", 30 * 24 * time.Hour, 24 * time.Hour, time.Minute, "2026-11-03T00:00:00Z"},
		{"30 d of a check every 10 s: the rollups", 30 * 24 * time.Hour, time.Hour, 10 * time.Second, ""},
		{"90 d at 1 d of a check every 10 min", 90 * 24 * time.Hour, 24 * time.Hour, 10 * time.Minute, "2026-11-03T00:00:00Z"},
		{"a step that does not divide a day: the rollups", 30 * 24 * time.Hour, 7 * time.Minute, 10 * time.Minute, ""},
		{"an unknown interval: the rollups", 24 * time.Hour, 5 * time.Minute, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := SeriesQuery{CheckID: "api", From: now.Add(-c.window), To: now, Step: c.step}
			edge, ok := seriesRawFrom(q, c.interval, rawFrom)
			got := ""
			if ok {
				got = edge.Format(time.RFC3339)
			}
			if got != c.want {
				t.Fatalf("raw from %q, want %q", got, c.want)
			}
			if ok && edge.Before(rawFrom) && !edge.Equal(q.From.Truncate(q.Step)) {
				t.Fatalf("reads raw rows from %s, before %s", edge, rawFrom)
			}
		})
	}
	// Nothing after the raw rows' edge but a partial step: the rollups.
	q := SeriesQuery{CheckID: "api", From: rawFrom.Add(-2 * time.Hour), To: rawFrom.Add(10 * time.Minute), Step: time.Hour}
	if edge, ok := seriesRawFrom(q, time.Minute, rawFrom); ok {
		t.Fatalf("raw from %s for a range ending in the step the raw rows' edge falls in", edge)
	}
}
