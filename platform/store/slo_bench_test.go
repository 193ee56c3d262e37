package store_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// BenchmarkSLO30Days counts one SLO over 30 days of a check probed every
// 10 s from one location (259,200 results) and from three, and of three
// such checks from one location each (the same rows: what the set's time
// slices, counted once each, cost over one check's), by occurrences and by
// 1-minute time slices, each from the rollups (SLOCounts) and from the raw
// rows (SLOCountsFromRaw), with every burn window. It reports each read's
// p50 and p99 over the iterations (run with -benchtime 30x or more) and
// raw/rollups, the raw read's total time over the rollups'.
func BenchmarkSLO30Days(b *testing.B) {
	for _, c := range []struct {
		name              string
		checks, locations []string
	}{
		{"1 locations", []string{"api"}, []string{"eu"}},
		{"3 locations", []string{"api"}, []string{"eu", "us", "ap"}},
		{"3 checks", []string{"api", "cart", "web"}, []string{"eu"}},
	} {
		b.Run(c.name, func(b *testing.B) { benchmarkSLO30Days(b, c.checks, c.locations) })
	}
}

func benchmarkSLO30Days(b *testing.B, checks, locations []string) {
	ctx := context.Background()
	s := embeddedtest.Store(b)
	rng := rand.New(rand.NewPCG(30, 10))
	// 30 days from 29 days ago: the raw rows' 30-day TTL removes none.
	start := time.Now().UTC().Truncate(time.Hour).Add(-29*24*time.Hour + 3*time.Hour + 13*time.Minute)
	now := start.Add(30*24*time.Hour + 7*time.Minute + 13*time.Second + 500*time.Millisecond)
	var rows []store.ResultRow
	for _, c := range checks {
		rows = append(rows, generate(rng, c, locations, start, now, 10*time.Second)...)
	}
	load(b, s, rows, len(checks)*len(locations)*int(24*time.Hour/(10*time.Second)), rng) // a day per batch

	type read struct {
		name string
		q    store.SLOQuery
		raw  bool
		took []time.Duration
	}
	occ := store.SLOQuery{Checks: checks, Budgeting: store.Occurrences, Window: 30 * 24 * time.Hour, Now: now}
	ts := occ
	ts.Budgeting, ts.Slice = store.Timeslices, time.Minute
	reads := []*read{{name: "occurrences", q: occ}, {name: "occurrences-raw", q: occ, raw: true},
		{name: "timeslices", q: ts}, {name: "timeslices-raw", q: ts, raw: true}}
	do := func(r *read) store.SLOResult {
		f := s.SLOCounts
		if r.raw {
			f = s.SLOCountsFromRaw
		}
		got, err := f(ctx, r.q)
		if err != nil {
			b.Fatal(err)
		}
		return got
	}
	for i := 0; i < len(reads); i += 2 {
		got, raw := do(reads[i]), do(reads[i+1])
		if !reflect.DeepEqual(got, raw) || len(got.Checks) != len(checks) || got.Total.Window.Good+got.Total.Window.Bad == 0 {
			b.Fatalf("%s: %+v, raw rows %+v", reads[i].name, got, raw)
		}
	}
	for b.Loop() {
		for _, r := range reads {
			t0 := time.Now()
			do(r)
			r.took = append(r.took, time.Since(t0))
		}
	}
	var sum [4]time.Duration
	for i, r := range reads {
		for _, d := range r.took {
			sum[i] += d
		}
		slices.Sort(r.took)
		b.ReportMetric(float64(r.took[len(r.took)/2].Microseconds())/1000, r.name+"-p50-ms")
		b.ReportMetric(float64(r.took[(len(r.took)*99)/100].Microseconds())/1000, r.name+"-p99-ms")
	}
	b.ReportMetric(float64(sum[1])/float64(sum[0]), "occurrences-raw/rollups")
	b.ReportMetric(float64(sum[3])/float64(sum[2]), "timeslices-raw/rollups")
}
