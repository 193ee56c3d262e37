package api

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxWindow bounds a query's time range.
const maxWindow = 400 * 24 * time.Hour

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
	if !from.Before(to) {
		return from, to, "from", fmt.Errorf("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > maxWindow {
		return from, to, "from", fmt.Errorf("range %s is longer than the maximum %s", to.Sub(from), maxWindow)
	}
	return from, to, "", nil
}

// parseWindow accepts Go durations and whole days ("7d").
func parseWindow(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, perr := strconv.Atoi(days)
		if perr != nil {
			return 0, fmt.Errorf("window %q: want a duration like 10m, 1h or 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("window %q: want a duration like 10m, 1h or 7d", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("window %q: must be positive", s)
	}
	if d > maxWindow {
		return 0, fmt.Errorf("window %q: longer than the maximum %s", s, maxWindow)
	}
	return d, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-22T10:00:00Z) or Unix seconds", s)
}
