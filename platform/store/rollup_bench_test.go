package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// BenchmarkRebuildHourOf10000Checks is the aggregator's hour and day
// rebuild at steady state late in an hour: 10,000 checks probed every 10 s
// from one location, 59 minutes of the hour stored and rolled up, and the
// rebuild every coarse cadence (10 s) makes for all of them (every check
// touched since the last one). It re-reads the hour's minutes so far of each
// check, so this is its cost at its largest; it reports that and the
// share of wall time it takes at one rebuild per 10 s.
// go test -run '^$' -bench 'RebuildHourOf10000Checks' -benchtime 5x ./platform/store
func BenchmarkRebuildHourOf10000Checks(b *testing.B) {
	const checks, perMinute = 10000, 6
	ctx := context.Background()
	s := embeddedtest.Store(b)
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	ids := make([]string, checks)
	for i := range ids {
		ids[i] = fmt.Sprintf("bg-%05d", i)
	}
	n := checks * perMinute * 59
	err := s.Backend().Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s.check_results (result_id, check_id, check_name, check_type,
  location, scheduled_at, started_at, duration_ms, ttfb_ms, http_status, success, failure_class, failure_message,
  interval_ms, dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, labels)
SELECT toString(number), c, c, 'http', 'loc-0', t, t, d, d / 4, 200, true, '', '', 10000, 1, 2, 3, d - 10, 4, map()
FROM (
  SELECT number, concat('bg-', leftPad(toString(number %% %[2]d), 5, '0')) AS c,
    toDateTime64(%[3]d, 3, 'UTC') + toIntervalSecond(intDiv(number, %[2]d) * 10) AS t,
    20 + cityHash64(number) %% 200 AS d
  FROM numbers(%[4]d))`, s.Database(), checks, hour.Unix(), n), nil)
	if err != nil {
		b.Fatal(err)
	}
	for m := range 59 {
		from := hour.Add(time.Duration(m) * time.Minute)
		if err := s.RebuildMinutes(ctx, ids, from, from.Add(time.Minute-time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	last := hour.Add(58 * time.Minute)
	if err := s.RebuildHoursAndDays(ctx, ids, last, last); err != nil {
		b.Fatal(err)
	}
	st, err := s.RollupStats(ctx, store.Hour, ids[7], hour, hour.Add(time.Hour))
	if err != nil || st.Runs != perMinute*59 {
		b.Fatalf("hour of %s: %d runs %v, want %d", ids[7], st.Runs, err, perMinute*59)
	}
	var took time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := s.RebuildHoursAndDays(ctx, ids, last, last.Add(50*time.Second)); err != nil {
			b.Fatal(err)
		}
		took += time.Since(t0)
	}
	per := took / time.Duration(b.N)
	b.ReportMetric(float64(per.Milliseconds()), "ms/rebuild")
	b.ReportMetric(per.Seconds()/10, "wall-share-at-10s")
}
