package store

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func (p part) String() string {
	src := "raw"
	if p.res != nil {
		src = p.res.table
	}
	return fmt.Sprintf("%s[%s,%s)", src, p.from.Format("02T15:04:05.000"), p.to.Format("02T15:04:05.000"))
}

// Every level read, as for a check whose interval is unknown: the coarsest
// whole buckets.
func TestPlanReadsTheCoarsestWholeBuckets(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse("02T15:04:05.000", s)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 11, tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC)
	}
	tests := []struct{ from, to, want string }{
		{"21T10:00:05.000", "21T10:00:45.000", "raw[21T10:00:05.000,21T10:00:45.000)"},
		{"21T10:59:30.000", "21T11:00:30.000", "raw[21T10:59:30.000,21T11:00:30.000)"},
		{"21T10:00:00.000", "21T10:01:00.000", "check_rollup_1m[21T10:00:00.000,21T10:01:00.000)"},
		{"21T10:58:30.500", "21T11:01:10.000", "raw[21T10:58:30.500,21T10:59:00.000) check_rollup_1m[21T10:59:00.000,21T11:01:00.000) raw[21T11:01:00.000,21T11:01:10.000)"},
		{"21T00:00:00.000", "22T00:00:00.000", "check_rollup_1d[21T00:00:00.000,22T00:00:00.000)"},
		{"20T22:58:59.999", "23T01:02:00.001", "raw[20T22:58:59.999,20T22:59:00.000) check_rollup_1m[20T22:59:00.000,20T23:00:00.000) " +
			"check_rollup_1h[20T23:00:00.000,21T00:00:00.000) check_rollup_1d[21T00:00:00.000,23T00:00:00.000) " +
			"check_rollup_1h[23T00:00:00.000,23T01:00:00.000) check_rollup_1m[23T01:00:00.000,23T01:02:00.000) raw[23T01:02:00.000,23T01:02:00.001)"},
		{"21T10:00:00.000", "21T10:00:00.000", ""},
	}
	for _, tc := range tests {
		if got := strings.Trim(fmt.Sprint(plan{}.split(at(tc.from), at(tc.to))), "[]"); got != tc.want {
			t.Errorf("[%s, %s):\n got %s\nwant %s", tc.from, tc.to, got, tc.want)
		}
	}
	// Any window: the parts tile it in order, rollup parts are whole buckets,
	// and raw parts hold no whole minute.
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		from := base.Add(time.Duration(rng.Int64N(int64(30*24*time.Hour))) / time.Millisecond * time.Millisecond)
		to := from.Add(time.Duration(rng.Int64N(int64([]time.Duration{time.Minute, 2 * time.Hour, 3 * 24 * time.Hour}[rng.IntN(3)]))) / time.Millisecond * time.Millisecond)
		at := from
		pl := plan{interval: []time.Duration{0, 10 * time.Millisecond, time.Second, 30 * time.Second}[rng.IntN(4)], rawFrom: base.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))),
			rawDays: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			pl.fresh = to.Add(-time.Duration(rng.Int64N(int64(3 * time.Hour))))
		}
		for _, p := range pl.split(from, to) {
			if !p.from.Equal(at) || !p.from.Before(p.to) {
				t.Fatalf("[%s, %s): part %s does not follow %s", from, to, p, at)
			}
			if p.res != nil && (!p.res.truncate(p.from).Equal(p.from) || !p.res.truncate(p.to).Equal(p.to)) {
				t.Fatalf("[%s, %s): part %s is not whole buckets", from, to, p)
			}
			// What of a raw part may be gone: all of it when the interval
			// is unknown, else what lies before rawFrom.
			gone := p.to
			if pl.interval > 0 && pl.rawFrom.Before(gone) {
				gone = pl.rawFrom
			}
			if p.res == nil && p.from.Before(gone) && Minute.ceil(p.from).Add(time.Minute).Compare(gone) <= 0 {
				t.Fatalf("[%s, %s): raw part %s holds a whole minute, with raw rows that may be gone", from, to, p)
			}
			if p.res == nil && !pl.rawDays && Day.ceil(p.from).Add(24*time.Hour).Compare(p.to) <= 0 {
				t.Fatalf("[%s, %s): raw part %s holds a whole day", from, to, p)
			}
			at = p.to
		}
		if from.Before(to) && !at.Equal(to) {
			t.Fatalf("[%s, %s): parts end at %s", from, to, at)
		}
	}
}

// Hours and minutes are read from the rollups only where a range holds
// enough raw rows to make that cheaper, or where the raw rows may be gone;
// for counts only (SLOs), hours always and minutes only where raw rows may
// be gone.
func TestPlanReadsFinerRollupsWhereTheyPay(t *testing.T) {
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	from, to := day.Add(-330*time.Minute-30*time.Second), day.Add(24*time.Hour+90*time.Minute+30*time.Second)
	longAgo := day.AddDate(0, -1, 0)
	tests := []struct {
		name string
		p    plan
		want string
	}{
		{"every 30 s", plan{interval: 30 * time.Second, rawFrom: longAgo},
			"raw[20T18:29:30.000,21T00:00:00.000) check_rollup_1d[21T00:00:00.000,22T00:00:00.000) raw[22T00:00:00.000,22T01:30:30.000)"},
		{"every 100 ms", plan{interval: 100 * time.Millisecond, rawFrom: longAgo}, // 198,300 rows on the left, 54,300 on the right
			"raw[20T18:29:30.000,20T19:00:00.000) check_rollup_1h[20T19:00:00.000,21T00:00:00.000) check_rollup_1d[21T00:00:00.000,22T00:00:00.000) " +
				"raw[22T00:00:00.000,22T01:30:30.000)"},
		{"every 10 ms", plan{interval: 10 * time.Millisecond, rawFrom: longAgo},
			"raw[20T18:29:30.000,20T18:30:00.000) check_rollup_1m[20T18:30:00.000,20T19:00:00.000) check_rollup_1h[20T19:00:00.000,21T00:00:00.000) " +
				"check_rollup_1d[21T00:00:00.000,22T00:00:00.000) check_rollup_1h[22T00:00:00.000,22T01:00:00.000) check_rollup_1m[22T01:00:00.000,22T01:30:00.000) raw[22T01:30:00.000,22T01:30:30.000)"},
		{"counts only", plan{interval: 30 * time.Second, rawFrom: longAgo, countsOnly: true},
			"raw[20T18:29:30.000,20T19:00:00.000) check_rollup_1h[20T19:00:00.000,21T00:00:00.000) " +
				"check_rollup_1d[21T00:00:00.000,22T00:00:00.000) check_rollup_1h[22T00:00:00.000,22T01:00:00.000) raw[22T01:00:00.000,22T01:30:30.000)"},
		{"counts only, the start past the raw rows' TTL", plan{rawFrom: day, countsOnly: true},
			"raw[20T18:29:30.000,20T18:30:00.000) check_rollup_1m[20T18:30:00.000,20T19:00:00.000) check_rollup_1h[20T19:00:00.000,21T00:00:00.000) " +
				"check_rollup_1d[21T00:00:00.000,22T00:00:00.000) check_rollup_1h[22T00:00:00.000,22T01:00:00.000) raw[22T01:00:00.000,22T01:30:30.000)"},
		{"every 30 s, the start past the raw rows' TTL", plan{interval: 30 * time.Second, rawFrom: day},
			"raw[20T18:29:30.000,20T18:30:00.000) check_rollup_1m[20T18:30:00.000,20T19:00:00.000) check_rollup_1h[20T19:00:00.000,21T00:00:00.000) " +
				"check_rollup_1d[21T00:00:00.000,22T00:00:00.000) raw[22T00:00:00.000,22T01:30:30.000)"},
	}
	for _, tc := range tests {
		if got := strings.Trim(fmt.Sprint(tc.p.split(from, to)), "[]"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// For one check (rawDays), days too are read raw where that is cheaper, and
// of a window reaching past the raw rows' TTL only what is past it is read
// from the rollups: by the engine's clock (WindowStats) nothing of a 30-day
// window ending now but its first seconds, which hold no whole minute.
func TestPlanReadsOneSparseChecksDaysRaw(t *testing.T) {
	from := time.Date(2026, 11, 1, 10, 0, 0, 500_000_000, time.UTC)
	to := from.Add(30 * 24 * time.Hour)
	rawFrom := to.Add(-rawRetention) // 01T11:00:00.500
	tests := []struct {
		name string
		p    plan
		want string
	}{
		{"every 30 min", plan{interval: 30 * time.Minute, rawFrom: rawFrom, rawDays: true},
			"raw[01T10:00:00.500,01T10:01:00.000) check_rollup_1m[01T10:01:00.000,01T11:00:00.000) raw[01T11:00:00.000,01T10:00:00.500)"},
		{"every 5 s", plan{interval: 5 * time.Second, rawFrom: rawFrom, rawDays: true}, // 518,400 rows
			"raw[01T10:00:00.500,01T10:01:00.000) check_rollup_1m[01T10:01:00.000,01T11:00:00.000) raw[01T11:00:00.000,02T00:00:00.000) " +
				"check_rollup_1d[02T00:00:00.000,01T00:00:00.000) raw[01T00:00:00.000,01T10:00:00.500)"},
		{"every 30 min, days from the rollups", plan{interval: 30 * time.Minute, rawFrom: rawFrom},
			"raw[01T10:00:00.500,01T10:01:00.000) check_rollup_1m[01T10:01:00.000,01T11:00:00.000) raw[01T11:00:00.000,02T00:00:00.000) " +
				"check_rollup_1d[02T00:00:00.000,01T00:00:00.000) raw[01T00:00:00.000,01T10:00:00.500)"},
		{"every 30 min, rawFrom by the engine's clock", plan{interval: 30 * time.Minute, rawFrom: to.Add(-rawTTL + rawTTLMargin), rawDays: true},
			"raw[01T10:00:00.500,01T10:00:00.500)"},
		{"interval unknown: every level", plan{rawFrom: rawFrom, rawDays: true},
			"raw[01T10:00:00.500,01T10:01:00.000) check_rollup_1m[01T10:01:00.000,01T11:00:00.000) check_rollup_1h[01T11:00:00.000,02T00:00:00.000) " +
				"check_rollup_1d[02T00:00:00.000,01T00:00:00.000) check_rollup_1h[01T00:00:00.000,01T10:00:00.000) raw[01T10:00:00.000,01T10:00:00.500)"},
	}
	for _, tc := range tests {
		if got := strings.Trim(fmt.Sprint(tc.p.split(from, to)), "[]"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// An hour or day that closed less than freshMargin before a window's end is
// read from the finer levels: its rebuild may not have landed yet.
func TestPlanReadsAJustClosedHourFromTheMinutes(t *testing.T) {
	to := time.Date(2026, 11, 21, 11, 1, 10, 0, time.UTC)
	from := to.Add(-3 * time.Hour)
	for _, c := range []struct {
		fresh time.Time
		want  string
	}{
		{time.Time{}, "raw[21T08:01:10.000,21T08:02:00.000) check_rollup_1m[21T08:02:00.000,21T09:00:00.000) " +
			"check_rollup_1h[21T09:00:00.000,21T11:00:00.000) check_rollup_1m[21T11:00:00.000,21T11:01:00.000) raw[21T11:01:00.000,21T11:01:10.000)"},
		{to.Add(-freshMargin), "raw[21T08:01:10.000,21T08:02:00.000) check_rollup_1m[21T08:02:00.000,21T09:00:00.000) " +
			"check_rollup_1h[21T09:00:00.000,21T10:00:00.000) check_rollup_1m[21T10:00:00.000,21T11:01:00.000) raw[21T11:01:00.000,21T11:01:10.000)"},
	} {
		if got := strings.Trim(fmt.Sprint(plan{fresh: c.fresh}.split(from, to)), "[]"); got != c.want {
			t.Errorf("fresh %s:\n got %s\nwant %s", c.fresh, got, c.want)
		}
	}
}
