package store

import (
	"context"
	"fmt"
	"time"
)

// SeriesQuery selects one check's figures bucketed by Step.
type SeriesQuery struct {
	CheckID string
	// Location filters to one location; empty means all.
	Location string
	// The points are the Step buckets (aligned to the Unix epoch) that
	// overlap [From, To): the first may start before From.
	From, To time.Time
	// Step is a whole number of minutes.
	Step time.Duration
}

// SeriesPoint is one bucket's sums, counts and merged sketches.
type SeriesPoint struct {
	At time.Time
	RollupStats
}

// seriesRow is a SeriesPoint as a query returns it.
type seriesRow struct {
	At             time.Time         `ch:"t"`
	Runs           uint64            `ch:"runs"`
	Successes      uint64            `ch:"successes"`
	DurationSum    float64           `ch:"duration_sum"`
	DurationMax    float64           `ch:"duration_max"`
	TTFBSum        float64           `ch:"ttfb_sum"`
	TTFBMax        float64           `ch:"ttfb_max"`
	Statuses       map[uint16]uint64 `ch:"status_counts"`
	Classes        map[string]uint64 `ch:"class_counts"`
	DetailRuns     uint64            `ch:"detail_runs"`
	Quantiles      []float64         `ch:"duration_q"`
	PhaseCounts    []uint64          `ch:"phase_counts"`
	PhaseSums      []float64         `ch:"phase_sums"`
	PhaseMaxes     []float64         `ch:"phase_maxes"`
	PhaseQuantiles [][]float64       `ch:"phase_q"`
}

// SeriesResolution is the coarsest rollup whose buckets tile step: days for
// a whole number of days, hours for whole hours, minutes otherwise.
func SeriesResolution(step time.Duration) Resolution {
	switch {
	case step%Day.size == 0:
		return Day
	case step%Hour.size == 0:
		return Hour
	default:
		return Minute
	}
}

// Series merges the buckets of the rollup SeriesResolution picks into Step
// buckets, in one query, oldest first; buckets without a run are left out.
// A rollup's bucket is whole inside one step, so every figure equals what
// the raw rows of the step add up to (percentiles within the sketches' 1 %).
func (s *Store) Series(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	r := SeriesResolution(q.Step)
	return s.series(ctx, q, r.table, "bucket", aggregateList(false, func(a aggregate) string { return a.column }), "")
}

// SeriesFromRaw is Series' answer computed from the raw rows.
func (s *Store) SeriesFromRaw(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	return s.series(ctx, q, "check_results", "scheduled_at",
		aggregateList(false, func(a aggregate) string { return a.fromRaw + " AS " + a.column }), "GROUP BY t")
}

func (s *Store) series(ctx context.Context, q SeriesQuery, table, col, cols, group string) ([]SeriesPoint, error) {
	step := int64(q.Step / time.Second)
	if step < 60 || q.Step%time.Minute != 0 {
		return nil, fmt.Errorf("series of %s: step %s is not a whole number of minutes", q.CheckID, q.Step)
	}
	from := q.From.UTC().Truncate(q.Step)
	var rows []seriesRow
	err := s.b.Select(ctx, &rows, s.sql(`SELECT t, `+finalAggregates+`
FROM (
  SELECT toDateTime(intDiv(toUInt32(toDateTime(`+col+`)), {step:UInt32}) * {step:UInt32}, 'UTC') AS t,
  `+cols+`
  FROM ${db}.`+table+` FINAL
  PREWHERE check_id = {check_id:String} AND ({location:String} = '' OR location = {location:String})
    AND `+col+` >= {from:DateTime64(3, 'UTC')} AND `+col+` < {to:DateTime64(3, 'UTC')}
  `+group+`
)
GROUP BY t
HAVING runs > 0
ORDER BY t`), Params{
		"check_id": q.CheckID, "location": q.Location, "step": fmt.Sprint(step),
		"from": TimeParam(from), "to": TimeParam(ceilMilli(q.To)),
	})
	if err != nil {
		return nil, fmt.Errorf("series of %s: %w", q.CheckID, err)
	}
	out := make([]SeriesPoint, len(rows))
	for i, r := range rows {
		out[i] = SeriesPoint{At: r.At.UTC(), RollupStats: RollupStats{
			Runs: r.Runs, Successes: r.Successes, DurationSum: r.DurationSum, DurationMax: r.DurationMax,
			TTFBSum: r.TTFBSum, TTFBMax: r.TTFBMax, Statuses: r.Statuses, Classes: r.Classes,
			DetailRuns: r.DetailRuns, Quantiles: r.Quantiles, PhaseCounts: r.PhaseCounts, PhaseSums: r.PhaseSums,
			PhaseMaxes: r.PhaseMaxes, PhaseQuantiles: r.PhaseQuantiles,
		}}
	}
	return out, nil
}

// Summary derives the Stats figures from a point's sums.
func (p SeriesPoint) Summary() Stats { return p.RollupStats.summary() }
