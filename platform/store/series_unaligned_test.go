package store_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// A range whose end is not on a step: Series (read raw for this check)
// counts the last bucket whole, as the rollups do (it used to cut the raw
// rows at To, so the last point differed with the path read).
func TestSeriesOfAnUnalignedRangeFromRawEqualsTheRollups(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	rng := rand.New(rand.NewPCG(1, 2))
	to := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Minute).Add(30 * time.Second)
	from := to.Add(-time.Hour)
	rows := generate(rng, "api", []string{"eu"}, from, to.Add(30*time.Second), 10*time.Second)
	load(t, s, rows, 300, rng)
	q := store.SeriesQuery{CheckID: "api", From: from, To: to, Step: time.Minute}
	rolled, err := store.SeriesFromRollups(ctx, s, q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Series(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rolled) != len(got) {
		t.Fatalf("%d points from rollups, %d from Series", len(rolled), len(got))
	}
	last := len(got) - 1
	if rolled[last].Runs != got[last].Runs {
		t.Errorf("last point %s: Series %d runs, rollups %d runs (To=%s)", got[last].At, got[last].Runs, rolled[last].Runs, to)
	}
}
