package console

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/picket-dev/picket/services/query/api"
)

// The seed's figures per check: availability, max/avg response time,
// max/avg time to first byte, response-code counts.

// writeTable draws a view as a table (the terminal).
func writeTable(w io.Writer, s *snapshot) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "Past %s (every %s, at %s)\n", human(s.view.Window), human(s.view.Every), s.at.UTC().Format("15:04:05"))
	if s.err != nil {
		fmt.Fprintf(w, "  ERROR: %v — figures not shown until the API answers\n\n", s.err)
		return
	}
	if len(s.checks) == 0 {
		fmt.Fprintf(w, "  no check has results in the past %s\n\n", human(s.view.Window))
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tSTATE\tAVAIL\tRESP AVG\tRESP MAX\tTTFB AVG\tTTFB MAX\tCODES\t")
	for _, c := range s.checks {
		st := c.stats
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name(c.check), c.check.State, availability(st),
			ms(st.ResponseTimeMS.Avg), ms(st.ResponseTimeMS.Max), ms(st.TTFBMS.Avg), ms(st.TTFBMS.Max), codes(st))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// writeLines prints a view as one line per check (not a terminal).
func writeLines(w io.Writer, s *snapshot) {
	at := s.at.UTC().Format(time.RFC3339)
	if s.err != nil {
		fmt.Fprintf(w, "%s past %s ERROR %v\n", at, human(s.view.Window), s.err)
		return
	}
	for _, c := range s.checks {
		st := c.stats
		fmt.Fprintf(w, "%s past %s check=%s state=%s availability=%s samples=%d response_avg=%s response_max=%s ttfb_avg=%s ttfb_max=%s codes=%s\n",
			at, human(s.view.Window), c.check.ID, c.check.State, availability(st), st.Samples,
			ms(st.ResponseTimeMS.Avg), ms(st.ResponseTimeMS.Max), ms(st.TTFBMS.Avg), ms(st.TTFBMS.Max), codes(st))
	}
}

// alertLine is an alert as the seed prints it: its message, at its time.
func alertLine(a api.AlertJSON) string {
	msg := a.Message
	if msg == "" {
		msg = fmt.Sprintf("%s is %s (rule %s)", a.CheckID, a.State, a.Rule)
	}
	return fmt.Sprintf("%s %s %s/%s: %s", a.At.UTC().Format(time.RFC3339), strings.ToUpper(a.State), a.CheckID, a.Rule, msg)
}

func name(c api.CheckJSON) string {
	if c.Name != "" && c.Name != c.ID {
		return c.ID + " (" + c.Name + ")"
	}
	return c.ID
}

func availability(st api.StatsJSON) string {
	if st.Samples == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", st.Availability*100)
}

func ms(v float64) string { return fmt.Sprintf("%.1fms", v) }

// codes renders the status-code counts, most frequent first.
func codes(st api.StatsJSON) string {
	if len(st.StatusCodes) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(st.StatusCodes))
	for k := range st.StatusCodes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := int(st.StatusCodes[b]) - int(st.StatusCodes[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, st.StatusCodes[k])
	}
	return strings.Join(parts, ",")
}

// human renders d without trailing zero units: 10m, 1h, 90s.
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
