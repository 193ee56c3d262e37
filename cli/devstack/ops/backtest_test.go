package ops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
)

// `picket backtest --rules slo.yaml` with a burn_rate candidate (the
// workbook's windows by default) over three healthy days of a check every
// minute and then an hour-long outage: the candidate pages, drops to a ticket
// once the 30-minute window has let the outage go, and closes once the 6-hour
// window has. The rules file is read and validated as the CLI reads it, and
// the 3-day window is counted from the minute rollups before the warm-up.
func TestBacktestOfABurnRateRuleFile(t *testing.T) {
	st := embeddedtest.Store(t)
	start := embeddedtest.Day().Add(-72 * time.Hour)
	outage := start.Add(72 * time.Hour)
	var rows []store.ResultRow
	for i := range (72 + 12) * 60 {
		at := start.Add(time.Duration(i) * time.Minute)
		ok := at.Before(outage) || !at.Before(outage.Add(time.Hour))
		rows = append(rows, store.ResultRow{ResultID: events.ResultID("api", "eu", at), CheckID: "api", CheckName: "API",
			CheckType: "http", Location: "eu", ScheduledAt: at, StartedAt: at, DurationMS: 50, HTTPStatus: 200, Success: ok, IntervalMS: 60000})
	}
	ctx := context.Background()
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"api"}, start, start.Add(84*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "slo.yaml")
	if err := os.WriteFile(rules, []byte("alerting:\n  rules:\n    slo:\n      kind: burn_rate\n      objective: 0.99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	req := BacktestRequest{RulesFile: rules, From: outage.Add(-time.Hour), To: outage.Add(12 * time.Hour), Warmup: time.Hour}
	if err := Backtest(ctx, Env{Store: st, Where: "the embedded store"}, req, &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[1] == "slo" {
			at, err := time.Parse(time.RFC3339Nano, f[2])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, f[3]+" +"+at.Sub(outage).String())
		}
	}
	// 1h/5m at 14.4 × the 1 % budget: 9 failures of the hour's 60 (15 %)
	// open it at +8m. 6h/30m at 6 needs 2 failures of the last 30 minutes:
	// at +1h28m only the outage's last minute is left, and the 3-day window
	// (60 failures of 4,300, 1.4× ≥ 1) tickets. The 6-hour window, in 6-minute
	// buckets, lets the outage go at +6h54m.
	want := []string{"down +8m0s", "degraded +1h28m0s", "up +6h54m0s"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("candidate transitions %q, want %q; it printed:\n%s", got, want, out.String())
	}
	if !strings.Contains(out.String(), "candidate rules 3 transitions, actual 0") {
		t.Fatalf("summary:\n%s", out.String())
	}
}
