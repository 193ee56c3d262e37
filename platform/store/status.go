package store

import (
	"context"
	"fmt"
	"maps"
	"time"
)

// DayUptime is one check's runs and successes over one UTC day, every
// location together. Like Stats, runs the prober skipped for its own
// overload count in neither.
type DayUptime struct {
	CheckID   string    `ch:"check_id"`
	Day       time.Time `ch:"day"`
	Runs      uint64    `ch:"runs"`
	Successes uint64    `ch:"successes"`
}

// DailyUptime returns, per check of checks and UTC day overlapping
// [from, to), the runs and successes of that day, ordered by check and day:
// the days before today from the day rollups (kept forever), today's closed
// hours from the hour rollups and its current hour from the minute rollups,
// which the aggregator rebuilds at every flush (it rebuilds a live hour and
// day only once a minute, and a closed one seconds after it closed). A day without a run is left out: it is "no
// data", not 100 %.
func (s *Store) DailyUptime(ctx context.Context, checks []string, from, to time.Time) ([]DayUptime, error) {
	// The hour (and day) that closed less than freshMargin ago are read
	// from the minutes too: their rebuild, once the last minute closed, may
	// not have landed yet.
	edge := time.Now().UTC().Add(-freshMargin)
	today, hour := Day.truncate(edge), Hour.truncate(edge)
	return s.dailyUptime(ctx, checks, from, to, `SELECT check_id, day, sum(runs) AS runs, sum(successes) AS successes
FROM (
  SELECT toString(check_id) AS check_id, toStartOfDay(bucket, 'UTC') AS day, runs, successes
  FROM ${db}.`+Day.table+` FINAL
  PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
    AND bucket >= {from:DateTime64(3, 'UTC')} AND bucket < least({to:DateTime64(3, 'UTC')}, {today:DateTime64(3, 'UTC')})
  UNION ALL
  SELECT toString(check_id) AS check_id, toStartOfDay(bucket, 'UTC') AS day, runs, successes
  FROM ${db}.`+Hour.table+` FINAL
  PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
    AND bucket >= greatest({from:DateTime64(3, 'UTC')}, {today:DateTime64(3, 'UTC')})
    AND bucket < least({to:DateTime64(3, 'UTC')}, {hour:DateTime64(3, 'UTC')})
  UNION ALL
  SELECT toString(check_id) AS check_id, toStartOfDay(bucket, 'UTC') AS day, runs, successes
  FROM ${db}.`+Minute.table+` FINAL
  PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
    AND bucket >= greatest({from:DateTime64(3, 'UTC')}, {hour:DateTime64(3, 'UTC')}) AND bucket < {to:DateTime64(3, 'UTC')}
)
GROUP BY check_id, day
HAVING runs > 0
ORDER BY check_id, day`, Params{"today": TimeParam(today), "hour": TimeParam(hour)})
}

// DailyUptimeFromRaw is DailyUptime's answer computed from the raw rows
// (which reach back 30 days only): what it must equal, and what it is
// measured against.
func (s *Store) DailyUptimeFromRaw(ctx context.Context, checks []string, from, to time.Time) ([]DayUptime, error) {
	return s.dailyUptime(ctx, checks, from, to, `SELECT toString(check_id) AS check_id, toStartOfDay(scheduled_at, 'UTC') AS day,
  countIf(`+measured+`) AS runs, countIf(success AND `+measured+`) AS successes
FROM ${db}.check_results FINAL
PREWHERE check_id IN (SELECT arrayJoin({checks:Array(String)}))
  AND scheduled_at >= {from:DateTime64(3, 'UTC')} AND scheduled_at < {to:DateTime64(3, 'UTC')}
GROUP BY check_id, day
HAVING runs > 0
ORDER BY check_id, day`)
}

func (s *Store) dailyUptime(ctx context.Context, checks []string, from, to time.Time, query string, extra ...Params) ([]DayUptime, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	// Whole days: the day rollup's bucket is a day's start.
	from, to = Day.truncate(from), Day.ceil(to)
	params := Params{"checks": ArrayParam(checks), "from": TimeParam(from), "to": TimeParam(to)}
	for _, p := range extra {
		maps.Copy(params, p)
	}
	var rows []DayUptime
	err := s.b.Select(ctx, &rows, s.sql(query), params)
	if err != nil {
		return nil, fmt.Errorf("daily uptime of %d checks: %w", len(checks), err)
	}
	for i := range rows {
		rows[i].Day = rows[i].Day.UTC()
	}
	return rows, nil
}
