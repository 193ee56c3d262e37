package api

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// maxDays bounds a query's time range, in days.
	maxDays = 400
	// maxWindow is maxDays as a duration.
	maxWindow = maxDays * 24 * time.Hour
)

// The times a query may name: the stored tables' DateTime columns reach
// 2106, and nothing older than 1970 was ever probed.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// durationSyntax is what time.ParseDuration accepts, whatever the size: a
// string that matches but does not parse is too long for a Duration.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// timeRange reads either window (10m, 1h, 7d: the range ending now) or from
// and to (RFC 3339 or Unix seconds; to defaults to now). It returns the
// offending parameter's name with the error.
func timeRange(q url.Values, now time.Time, defaultWindow time.Duration) (from, to time.Time, param string, err error) {
	w, f, t := q.Get("window"), q.Get("from"), q.Get("to")
	if w != "" && (f != "" || t != "") {
		return from, to, "window", fmt.Errorf("give either window or from/to, not both")
	}
	if f == "" && t != "" {
		return from, to, "from", fmt.Errorf("from is required with to")
	}
	if f == "" {
		d := defaultWindow
		if w != "" {
			if d, err = parseWindow(w); err != nil {
				return from, to, "window", err
			}
		}
		return now.Add(-d), now, "", nil
	}
	if from, err = parseTime(f); err != nil {
		return from, to, "from", err
	}
	to = now
	if t != "" {
		if to, err = parseTime(t); err != nil {
			return from, to, "to", err
		}
	}
	for _, p := range []struct {
		name string
		t    time.Time
	}{{"from", from}, {"to", to}} {
		if p.t.Before(minTime) || p.t.After(maxTime) {
			return from, to, p.name, fmt.Errorf("%s %s: want a time from %s to %s", p.name, p.t.UTC().Format(time.RFC3339),
				minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
		}
	}
	if !from.Before(to) {
		return from, to, "from", fmt.Errorf("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > maxWindow {
		return from, to, "from", fmt.Errorf("range %s is longer than the maximum %dd (%s)", to.Sub(from), maxDays, maxWindow)
	}
	return from, to, "", nil
}

// parseWindow accepts Go durations and whole days ("7d"), at most maxDays:
// the day count is bounded before it is multiplied, so no size of number
// overflows into a short or negative window.
func parseWindow(s string) (time.Duration, error) {
	tooLong := fmt.Errorf("window %q: longer than the maximum %dd (%s)", s, maxDays, maxWindow)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		switch {
		case err == nil && n > maxDays:
			return 0, tooLong
		case err == nil && n < 1: // before multiplying: -213504d would wrap around
			return 0, fmt.Errorf("window %q: must be positive", s)
		case err == nil:
			d = time.Duration(n) * 24 * time.Hour
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(days, "-"):
			return 0, tooLong
		case errors.Is(err, strconv.ErrRange):
			return 0, fmt.Errorf("window %q: must be positive", s)
		default:
			return 0, fmt.Errorf("window %q: want a duration like 10m, 1h or 7d", s)
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			if durationSyntax.MatchString(s) {
				if strings.HasPrefix(s, "-") {
					return 0, fmt.Errorf("window %q: must be positive", s)
				}
				return 0, tooLong
			}
			return 0, fmt.Errorf("window %q: want a duration like 10m, 1h or 7d", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("window %q: must be positive", s)
	}
	if d > maxWindow {
		return 0, tooLong
	}
	return d, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	} else if errors.Is(err, strconv.ErrRange) {
		return time.Time{}, fmt.Errorf("%q: want a time from %s to %s", s, minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-22T10:00:00Z) or Unix seconds", s)
}
