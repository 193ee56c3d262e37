package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// The burn-rate counters' rebuild reads per check, location and minute the
// measured runs and successes: skipped runs are not counted, a duplicate is
// counted once, and a minute of nothing but skipped runs is not returned.
func TestMinuteCounts(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(10 * time.Hour)
	var rows []store.ResultRow
	for i := range 180 { // three minutes at 1 s of "api", the last all skipped; "web" every 10 s
		r := result("api", t0.Add(time.Duration(i)*time.Second), 200, i%4 != 0, 40)
		if i%3 == 0 || i >= 120 {
			r.Success, r.FailureClass = false, store.OverloadClass
		}
		rows = append(rows, r)
		if i%10 == 0 {
			rows = append(rows, result("web", t0.Add(time.Duration(i)*time.Second), 200, true, 40))
		}
	}
	rows = append(rows, rows[1]) // a duplicate
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildRollups(ctx, []string{"api", "web"}, t0, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.MinuteCounts(ctx, []string{"api"}, t0, t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Per minute: 40 measured (20 of the 60 are skipped), 30 of them successes
	// (every fourth result fails; those that are also every third are skipped).
	if want := "[api here 10:00 40/30 api here 10:01 40/30]"; summary(got) != want {
		t.Fatalf("api: %s, want %s", summary(got), want)
	}
	all, err := s.MinuteCounts(ctx, nil, t0.Add(time.Minute), t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[api here 10:01 40/30 web here 10:01 6/6]"; summary(all) != want {
		t.Fatalf("every check: %s, want %s", summary(all), want)
	}
}

func summary(cs []store.MinuteCount) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s %s %d/%d", c.CheckID, c.Location, c.Minute.UTC().Format("15:04"), c.Runs, c.Successes))
	}
	return fmt.Sprint(out)
}
