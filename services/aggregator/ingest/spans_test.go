package ingest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// Each partition's span covers its own rows only: a partition catching up a
// day behind does not widen the other's span to the whole day.
func TestSpansArePerPartition(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var s Spans
	s.Add(1, store.ResultRow{CheckID: "web", ScheduledAt: t0.Add(time.Minute)})
	s.Add(0, store.ResultRow{CheckID: "api", ScheduledAt: t0.Add(-24 * time.Hour)})
	s.Add(1, store.ResultRow{CheckID: "db", ScheduledAt: t0})
	s.Add(1, store.ResultRow{CheckID: "web", ScheduledAt: t0.Add(2 * time.Minute)})
	s.Add(0, store.ResultRow{CheckID: "api", ScheduledAt: t0.Add(-24*time.Hour + time.Second)})
	var got []string
	if err := s.Each(func(checks []string, from, to time.Time) error {
		got = append(got, fmt.Sprintf("%v %s %s", checks, from.Format("01-02T15:04:05"), to.Format("01-02T15:04:05")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"[api] 11-21T10:00:00 11-21T10:00:01", "[web db] 11-22T10:00:00 11-22T10:02:00"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("spans %q, want %q", got, want)
	}
	boom := errors.New("clickhouse down")
	n := 0
	if err := s.Each(func([]string, time.Time, time.Time) error { n++; return boom }); !errors.Is(err, boom) || n != 1 {
		t.Fatalf("error %v after %d calls", err, n)
	}
	var empty Spans
	if err := empty.Each(func([]string, time.Time, time.Time) error { return boom }); err != nil {
		t.Fatal(err)
	}
}

// Merged, partitions at the same event time share one span (one rebuild
// statement per rollup table for all of them), and a partition a day behind
// keeps its own.
func TestSpansMergeWhenClose(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var s Spans
	s.Add(2, store.ResultRow{CheckID: "web", ScheduledAt: t0.Add(20 * time.Second)})
	s.Add(1, store.ResultRow{CheckID: "db", ScheduledAt: t0})
	s.Add(0, store.ResultRow{CheckID: "api", ScheduledAt: t0.Add(-24 * time.Hour)})
	s.Add(3, store.ResultRow{CheckID: "dns", ScheduledAt: t0.Add(70 * time.Second)})
	s.Add(1, store.ResultRow{CheckID: "db", ScheduledAt: t0.Add(10 * time.Second)})
	var got []string
	if err := s.EachMerged(time.Minute, func(checks []string, from, to time.Time) error {
		got = append(got, fmt.Sprintf("%v %s %s", checks, from.Format("01-02T15:04:05"), to.Format("01-02T15:04:05")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"[api] 11-21T10:00:00 11-21T10:00:00", "[db web dns] 11-22T10:00:00 11-22T10:01:10"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("spans %q, want %q", got, want)
	}
	// Merging leaves the spans as they were.
	got = nil
	_ = s.Each(func(checks []string, from, to time.Time) error {
		got = append(got, fmt.Sprint(checks))
		return nil
	})
	if fmt.Sprint(got) != "[[api] [db] [web] [dns]]" {
		t.Fatalf("after merging: %v", got)
	}
}

// Split at the oldest newest minute, a backlog's flush rebuilds the minutes
// every partition has gone past and leaves the rest, which together are the
// whole spans, for later.
func TestSplitNewestMinute(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var s Spans
	s.Add(0, store.ResultRow{CheckID: "api", ScheduledAt: t0.Add(10 * time.Second)})
	s.Add(0, store.ResultRow{CheckID: "api", ScheduledAt: t0.Add(3*time.Minute + 5*time.Second)})
	s.Add(1, store.ResultRow{CheckID: "web", ScheduledAt: t0.Add(2*time.Minute + 30*time.Second)})
	s.Add(1, store.ResultRow{CheckID: "web", ScheduledAt: t0.Add(2*time.Minute + 50*time.Second)})
	list := func(s Spans) []string {
		var got []string
		_ = s.Each(func(checks []string, from, to time.Time) error {
			got = append(got, fmt.Sprintf("%v %s %s", checks, from.Format("15:04:05.000"), to.Format("15:04:05.000")))
			return nil
		})
		return got
	}
	before, open := s.SplitNewestMinute()
	if got, want := list(before), []string{"[api] 10:00:10.000 10:01:59.999"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("before %q, want %q", got, want)
	}
	if got, want := list(open), []string{"[api] 10:02:00.000 10:03:05.000", "[web] 10:02:30.000 10:02:50.000"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("open %q, want %q", got, want)
	}
	var empty Spans
	if b, o := empty.SplitNewestMinute(); !b.Empty() || !o.Empty() {
		t.Error("an empty span split into something")
	}
}
