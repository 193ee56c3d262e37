package api

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Whatever window, from and to say, timeRange either names the parameter at
// fault or returns a non-empty range of at most maxWindow between minTime
// and maxTime: no overflow turns a huge value into a short, negative or
// out-of-range one.
func FuzzTimeRange(f *testing.F) {
	for _, s := range [][3]string{
		{"10m", "", ""}, {"7d", "", ""}, {"213504d", "", ""}, {"106752d", "", ""}, {"-106752d", "", ""}, {"-213504d", "", ""}, {"-9223372036854775807d", "", ""},
		{"9223372036854775807ns", "", ""}, {"9223372036854775808ns", "", ""}, {"2562047h47m16.854775807s", "", ""},
		{"400d", "", ""}, {"401d", "", ""}, {"+5d", "", ""}, {"0x10d", "", ""}, {"1.5h", "", ""},
		{"", "2026-11-22T10:00:00Z", "2026-11-22T11:00:00Z"}, {"", "0", "1"}, {"", "-1", ""},
		{"", "9223372036854775807", ""}, {"", "-9223372036854775808", "9223372036854775807"},
		{"", "2026-11-22T10:00:00+23:59", "2026-11-22T10:00:00-23:59"}, {"", "0001-01-01T00:00:00Z", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, window, from, to string) {
		q := url.Values{}
		for k, v := range map[string]string{"window": window, "from": from, "to": to} {
			if v != "" {
				q.Set(k, v)
			}
		}
		f, tt, param, err := timeRange(q, now, 10*time.Minute)
		if err != nil {
			if param != "window" && param != "from" && param != "to" {
				t.Fatalf("%v: error %q names parameter %q", q, err, param)
			}
			return
		}
		if !f.Before(tt) || tt.Sub(f) > maxWindow || f.Before(minTime) || tt.After(maxTime) {
			t.Fatalf("%v: accepted range [%s, %s)", q, f, tt)
		}
		// An accepted window is as long as it says (213504d once overflowed
		// into 25 minutes).
		if days, ok := strings.CutSuffix(window, "d"); ok {
			n, err := strconv.ParseInt(days, 10, 64)
			if err != nil || n < 1 || n > maxDays || tt.Sub(f) != time.Duration(n)*24*time.Hour {
				t.Fatalf("window %q accepted as %s", window, tt.Sub(f))
			}
		} else if window != "" {
			if d, err := time.ParseDuration(window); err != nil || tt.Sub(f) != d {
				t.Fatalf("window %q accepted as %s", window, tt.Sub(f))
			}
		}
	})
}
