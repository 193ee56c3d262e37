package store_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// BenchmarkStats30Days reads a check's stats over 30 days, edges at odd
// seconds, three ways: WindowStats (day rollups, finer rollups where they pay,
// raw rows for the rest), every rollup level with sub-minute raw edges (what
// WindowStats does where raw rows are gone), and the raw rows only (Stats).
// It reports each one's time and raw/rollups, the raw read's time over
// WindowStats'. The check is probed every interval from three locations.
func BenchmarkStats30Days(b *testing.B) {
	for _, interval := range []time.Duration{30 * time.Second, 5 * time.Second} {
		b.Run("every "+interval.String(), func(b *testing.B) { benchmarkStats30Days(b, interval) })
	}
}

func benchmarkStats30Days(b *testing.B, interval time.Duration) {
	ctx := context.Background()
	s := embeddedtest.Store(b)
	rng := rand.New(rand.NewPCG(30, 30))
	// 30 days from 29 days ago: the raw rows' 30-day TTL removes none.
	start := time.Now().UTC().Truncate(time.Hour).Add(-29*24*time.Hour + 3*time.Hour + 13*time.Minute)
	q := store.StatsQuery{CheckID: "api", From: start.Add(7*time.Minute + 13*time.Second + 500*time.Millisecond)}
	q.To = q.From.Add(30 * 24 * time.Hour)
	rows := generate(rng, "api", []string{"eu", "us", "ap"}, start, q.To.Add(time.Minute), interval)
	load(b, s, rows, 3*int(24*time.Hour/interval), rng) // a day per batch

	raw, err := s.Stats(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	reads := []struct {
		name string
		read func(context.Context, store.StatsQuery) (store.Stats, error)
		took time.Duration
	}{
		{name: "window", read: s.WindowStats},
		{name: "every-level", read: func(ctx context.Context, q store.StatsQuery) (store.Stats, error) {
			return store.WindowStatsEveryLevel(ctx, s, q)
		}},
		{name: "raw", read: s.Stats},
	}
	for _, r := range reads {
		got, err := r.read(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if d := diffStats(got, raw); len(d) > 0 || got.Samples < uint64(len(rows))*9/10 {
			b.Fatalf("%s: %d samples; differs from the raw read: %v", r.name, got.Samples, d)
		}
	}
	for b.Loop() {
		for i := range reads {
			t0 := time.Now()
			if _, err := reads[i].read(ctx, q); err != nil {
				b.Fatal(err)
			}
			reads[i].took += time.Since(t0)
		}
	}
	for _, r := range reads {
		b.ReportMetric(float64(r.took.Microseconds())/1000/float64(b.N), r.name+"-ms/op")
	}
	b.ReportMetric(float64(reads[2].took)/float64(reads[0].took), "raw/window")
	b.ReportMetric(float64(reads[2].took)/float64(reads[1].took), "raw/every-level")
}
