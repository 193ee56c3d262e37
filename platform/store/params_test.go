package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
)

// trickyValues are check ids and locations that must survive every layer of
// quoting between Go and ClickHouse.
var trickyValues = []string{
	`back\slash`, `it's`, "tab\there", "new\nline", "cr\rhere", "日本 — ✓", `\N`, `\t literal`,
	"all: \\ ' \" \t \n \x00 é",
}

// A result whose check id and location hold a backslash, a quote, a tab, a
// newline or non-ASCII text is stored and read back under exactly that id:
// its raw stats, its rollups (rebuilt for that id, read back for it), its
// location filter, the samples and results the alert rules read, and the
// check list. Before the fix, a backslash in an Array(String) parameter was
// unescaped once too often and its rollups were never built.
func TestTrickyIDsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(12 * time.Hour)
	var rows []store.ResultRow
	for _, v := range trickyValues {
		for i := range 120 { // two minutes at 1 s
			r := result(v, t0.Add(time.Duration(i)*time.Second), 200, true, 10)
			r.Location, r.ResultID = v, events.ResultID(v, v, r.ScheduledAt)
			rows = append(rows, r)
		}
	}
	rows = append(rows, result("plain", t0, 200, true, 1))
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildRollups(ctx, trickyValues, t0, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, v := range trickyValues {
		q := store.StatsQuery{CheckID: v, Location: v, From: t0, To: t0.Add(2 * time.Minute)}
		for _, read := range []struct {
			name string
			read func(context.Context, store.StatsQuery) (store.Stats, error)
		}{
			{"raw", s.Stats},
			{"rollups", func(ctx context.Context, q store.StatsQuery) (store.Stats, error) {
				return store.WindowStatsEveryLevel(ctx, s, q)
			}},
		} {
			st, err := read.read(ctx, q)
			if err != nil {
				t.Fatalf("%q: %s: %v", v, read.name, err)
			}
			if st.Samples != 120 {
				t.Errorf("%q: %s stats: %d samples, want 120", v, read.name, st.Samples)
			}
		}
		if st, err := s.Stats(ctx, store.StatsQuery{CheckID: v, Location: "here", From: t0, To: t0.Add(time.Hour)}); err != nil || st.Samples != 0 {
			t.Errorf("%q at another location: %d samples, %v", v, st.Samples, err)
		}
		got, err := s.Samples(ctx, v, t0, t0.Add(time.Hour))
		if err != nil || len(got) != 120 {
			t.Errorf("%q: %d samples for the alert rules, %v", v, len(got), err)
		}
		recent, err := s.ResultsBetween(ctx, []string{v}, t0, t0.Add(time.Hour))
		if err != nil || len(recent) != 120 || recent[0].CheckID != v || recent[0].Location != v {
			t.Errorf("%q: results between: %d, %v", v, len(recent), err)
		}
		ok, err := s.KnownCheck(ctx, v)
		if err != nil || !ok {
			t.Errorf("%q known = %v, %v", v, ok, err)
		}
	}
	checks, err := s.Checks(ctx, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range checks {
		ids = append(ids, c.CheckID)
		if c.CheckID != "plain" && (len(c.Locations) != 1 || c.Locations[0] != c.CheckID) {
			t.Errorf("%q: locations %q", c.CheckID, c.Locations)
		}
	}
	want := append(slices.Clone(trickyValues), "plain")
	slices.Sort(want)
	if fmt.Sprintf("%q", ids) != fmt.Sprintf("%q", want) {
		t.Errorf("checks %q, want %q", ids, want)
	}
}
