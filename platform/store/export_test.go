package store

import "context"

// WindowStatsEveryLevel is WindowStats reading every rollup level it can, as
// it does for windows older than the raw rows, whatever the check's interval.
func WindowStatsEveryLevel(ctx context.Context, s *Store, q StatsQuery) (Stats, error) {
	return s.windowStats(ctx, q, true)
}

// SeriesFromRollups reads q's series from the rollups, whatever the raw rows.
func SeriesFromRollups(ctx context.Context, s *Store, q SeriesQuery) ([]SeriesPoint, error) {
	return s.seriesFromRollups(ctx, q)
}
