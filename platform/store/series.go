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
//
// Where the range holds fewer than minRawRows raw rows per location (over
// 30 days, a check probed every 26 s or less often; over a day, every
// second or less often), it reads the raw rows instead: the same answer
// (SeriesFromRaw), and cheaper than a rollup table read's fixed cost
// (measured for a check every 30 minutes: 24 hours at 5 minutes, 25 ms from
// the raw rows against 56 ms from the minute rollups; BenchmarkDashboard).
// A range reaching back before the raw rows surely kept (a 30-day chart)
// reads its steps before them from the rollups and the rest raw
// (seriesRawFrom).
func (s *Store) Series(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	interval, rawFrom, err := s.rawRows(ctx, q.CheckID)
	if err != nil {
		return nil, fmt.Errorf("series of %s: %w", q.CheckID, err)
	}
	edge, ok := seriesRawFrom(q, interval, rawFrom)
	switch {
	case !ok:
		return s.seriesFromRollups(ctx, q)
	case !edge.After(q.From.UTC().Truncate(q.Step)):
		return s.SeriesFromRaw(ctx, q)
	}
	head, tail := q, q
	head.To, tail.From = edge, edge
	points, err := s.seriesFromRollups(ctx, head)
	if err != nil {
		return nil, err
	}
	rest, err := s.SeriesFromRaw(ctx, tail)
	if err != nil {
		return nil, err
	}
	return append(points, rest...), nil
}

// seriesRawFrom is where Series reads q from the raw rows on, for a check
// probed every interval whose raw rows from rawFrom on are surely kept: the
// steps before it come from the rollups. It is q's first step when all of q
// is read raw; ok is false when none is (a dense check, or nothing of the
// range after rawFrom but a partial step). Only steps that divide a day are
// split: their buckets start at the same times counted from the Unix epoch
// (the queries' buckets) and from Go's zero time (Truncate).
func seriesRawFrom(q SeriesQuery, interval time.Duration, rawFrom time.Time) (edge time.Time, ok bool) {
	from := q.From.UTC().Truncate(q.Step)
	if interval <= 0 || q.Step <= 0 || q.To.Sub(from)/interval >= minRawRows {
		return time.Time{}, false
	}
	if !from.Before(rawFrom) {
		return from, true
	}
	if Day.size%q.Step != 0 {
		return time.Time{}, false
	}
	edge = rawFrom.UTC().Truncate(q.Step)
	if edge.Before(rawFrom) {
		edge = edge.Add(q.Step)
	}
	if !edge.Before(q.To) {
		return time.Time{}, false
	}
	return edge, true
}

// seriesFromRollups is Series read from the rollup SeriesResolution picks.
func (s *Store) seriesFromRollups(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	return s.series(ctx, q, `SELECT t, `+finalAggregates+`
FROM (
  SELECT toDateTime(intDiv(toUInt32(bucket), {step:UInt32}) * {step:UInt32}, 'UTC') AS t,
  `+aggregateList(false, func(a aggregate) string { return a.column })+`
  FROM ${db}.`+SeriesResolution(q.Step).table+` FINAL
  PREWHERE check_id = {check_id:String} AND ({location:String} = '' OR location = {location:String})
    AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < {to:DateTime64(3, 'UTC')}
)`)
}

// SeriesFromRaw is Series' answer computed from the raw rows, in one
// aggregation (rawFinalAggregates). Like the rollups, it counts whole
// buckets of SeriesResolution: a To inside one reads to its end.
func (s *Store) SeriesFromRaw(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	q.To = SeriesResolution(q.Step).ceil(q.To)
	return s.series(ctx, q, `SELECT toDateTime(intDiv(toUInt32(toDateTime(scheduled_at)), {step:UInt32}) * {step:UInt32}, 'UTC') AS t,
  `+rawFinalAggregates+`
FROM ${db}.check_results FINAL
PREWHERE check_id = {check_id:String} AND ({location:String} = '' OR location = {location:String})
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}`)
}

// series runs query, which selects t and finalAggregates' columns from rows
// in [from, to), grouped by step bucket t.
func (s *Store) series(ctx context.Context, q SeriesQuery, query string) ([]SeriesPoint, error) {
	step := int64(q.Step / time.Second)
	if step < 60 || q.Step%time.Minute != 0 {
		return nil, fmt.Errorf("series of %s: step %s is not a whole number of minutes", q.CheckID, q.Step)
	}
	from := q.From.UTC().Truncate(q.Step)
	var rows []seriesRow
	err := s.b.Select(ctx, &rows, s.sql(query+`
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
