package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// The recent minutes of each check (every location, skipped runs left out,
// a redelivered result counted once) are what its raw results of each minute
// add up to, the minute now is in included and nothing before the n-th
// minute back or of another check.
func TestRecentMinutesAddUpTheRawResults(t *testing.T) {
	s := embeddedtest.Store(t)
	rng := rand.New(rand.NewPCG(7, 10))
	now := embeddedtest.Day().Add(12*time.Hour + 25*time.Second)
	var rows []store.ResultRow
	for _, c := range []string{"a", "b", "c"} {
		rows = append(rows, generate(rng, c, []string{"eu", "us"}, now.Add(-45*time.Minute), now, 7*time.Second)...)
	}
	load(t, s, rows, 300, rng)
	got, err := s.RecentMinutes(context.Background(), []string{"a", "b"}, now, 30)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		check string
		at    time.Time
	}
	want := map[key][2]uint64{}
	from := now.Truncate(time.Minute).Add(-29 * time.Minute)
	for _, r := range dedup(rows) {
		if r.CheckID == "c" || r.ScheduledAt.Before(from) || r.FailureClass == store.OverloadClass {
			continue
		}
		k := key{r.CheckID, r.ScheduledAt.Truncate(time.Minute)}
		v := want[k]
		v[0]++
		if r.Success {
			v[1]++
		}
		want[k] = v
	}
	if len(got) != 60 || len(want) != 60 {
		t.Fatalf("%d minutes, want %d (30 of a and b each)", len(got), len(want))
	}
	for i, m := range got {
		if w := want[key{m.CheckID, m.Minute}]; m.Runs != w[0] || m.Successes != w[1] {
			t.Errorf("%s %s: %d runs, %d successes; raw %v", m.CheckID, m.Minute, m.Runs, m.Successes, w)
		}
		if i > 0 && fmt.Sprint(got[i-1].CheckID, got[i-1].Minute.Unix()) >= fmt.Sprint(m.CheckID, m.Minute.Unix()) {
			t.Errorf("minute %d (%s %s) is not after the one before", i, m.CheckID, m.Minute)
		}
	}
	if got[0].CheckID != "a" || !got[0].Minute.Equal(from) || !got[59].Minute.Equal(now.Truncate(time.Minute)) {
		t.Errorf("first %+v, last %+v", got[0], got[59])
	}
}
