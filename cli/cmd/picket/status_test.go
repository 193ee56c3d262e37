package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/console"
	"github.com/picket-dev/picket/cli/internal/queryapi"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/query/api"
)

// syncBuffer is a bytes.Buffer safe for the dashboard's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func alertRow(id string, at time.Time, state, msg string) store.AlertRow {
	return store.AlertRow{EventID: id, CheckID: "api", CheckName: "API", Rule: "availability", State: state,
		PreviousState: "up", At: at, DetectedAt: at, Message: msg, Kind: "availability"}
}

// `picket status` against a running `picket dev`, found from its data
// directory: each check's figures over the past 10 minutes and the past
// hour are what the query API says and what the target served (the seed's
// availability, response and TTFB times, status codes); the past alerts
// are printed with their messages; and, left running, it prints an alert
// recorded after it started, as it happens.
func TestStatusOnARunningDevStack(t *testing.T) {
	s, cfg, st, target := devWithHistory(t, 30)
	total, ok := target.served()
	past := alertRow("ev-past", time.Now().Add(-20*time.Minute), "down", "Website API is down. availability=40.00%, time=earlier")
	if err := st.InsertAlerts(context.Background(), []store.AlertRow{past}); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := picket(t, "status", "--once", "--data-dir", cfg.DataDir)
	if err != nil {
		t.Fatalf("picket status --once: %v\n%s", err, errOut)
	}
	var js api.StatsJSON
	resp, err := http.Get(s.QueryURL + "/api/v1/checks/api/stats?window=10m")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&js)
	resp.Body.Close()
	if js.Samples != uint64(total) {
		t.Fatalf("the API counts %d samples, the target served %d", js.Samples, total)
	}
	for _, view := range []string{"past 10m", "past 1h"} {
		want := fmt.Sprintf("%s check=api state=%s availability=%.2f%% samples=%d response_avg=%.1fms response_max=%.1fms ttfb_avg=%.1fms ttfb_max=%.1fms codes=200:%d,500:%d\n",
			view, "", float64(ok)/float64(total)*100, total, js.ResponseTimeMS.Avg, js.ResponseTimeMS.Max, js.TTFBMS.Avg, js.TTFBMS.Max, ok, total-ok)
		// The state is whatever the API says: compare the rest of the line.
		line := lineWith(out, " "+view+" check=api ")
		if line == "" {
			t.Fatalf("no %q line for check api in:\n%s", view, out)
		}
		if i := strings.Index(line, " availability="); i < 0 || line[i:]+"\n" != want[strings.Index(want, " availability="):] {
			t.Errorf("line %q\nwant its figures as %q", line, want)
		}
	}
	if !strings.Contains(out, "alert "+past.At.UTC().Format(time.RFC3339)+" DOWN api/availability: "+past.Message+"\n") {
		t.Errorf("the past alert is not printed:\n%s", out)
	}

	// Left running, with short intervals: a new alert is printed once, as
	// it happens.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var live syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"status", "--data-dir", cfg.DataDir, "--short-every", "50ms", "--long-every", "100ms", "--alerts-every", "20ms"}, &live, &live)
	}()
	poll.Until(t, 10*time.Second, "the views and the past alert", func() (bool, string) {
		o := live.String()
		return strings.Contains(o, "past 10m check=api") && strings.Contains(o, "past 1h check=api") && strings.Contains(o, past.Message), o
	})
	recovered := alertRow("ev-new", time.Now(), "up", "Website API is up. availability=100.00%, time=now")
	recovered.PreviousState = "down"
	if err := st.InsertAlerts(context.Background(), []store.AlertRow{recovered}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the new alert printed", func() (bool, string) {
		return strings.Contains(live.String(), " UP api/availability: "+recovered.Message), live.String()
	})
	// Several more updates: neither alert is printed again.
	poll.Until(t, 10*time.Second, "more updates", func() (bool, string) {
		return strings.Count(live.String(), "past 1h check=api") >= 5, live.String()
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, m := strings.Count(live.String(), recovered.Message), strings.Count(live.String(), past.Message); n != 1 || m != 1 {
		t.Errorf("the new alert printed %d times, the past one %d, want once each:\n%s", n, m, live.String())
	}

	// On a terminal: the screen is redrawn with both tables and the alerts.
	o := console.DefaultOptions()
	o.API, o.Terminal = &queryapi.Client{URL: s.QueryURL, HTTP: http.DefaultClient}, true
	o.Short.Every, o.Long.Every, o.AlertsEvery = 50*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var screen syncBuffer
	go func() { done <- console.Run(ctx, o, &screen) }()
	avail := fmt.Sprintf("%.2f%%", float64(ok)/float64(total)*100)
	poll.Until(t, 10*time.Second, "a redrawn screen with both views and the alerts", func() (bool, string) {
		frames := strings.Split(screen.String(), "\x1b[H\x1b[2J")
		last := frames[len(frames)-1]
		return len(frames) > 3 && strings.Contains(last, "Past 10m (every 50ms") && strings.Contains(last, "Past 1h (every 50ms") &&
			strings.Count(last, avail) == 2 && strings.Contains(last, "CHECK") && strings.Contains(last, recovered.Message) &&
			strings.Contains(last, past.Message), last
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A query API that does not answer is shown as an error line at each
// update, and the dashboard goes on; with --once it is the command's error.
// A bad option is refused, naming it.
func TestStatusWithoutAQueryAPI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	if _, _, err := picket(t, "status", "--once", "--query-url", dead); err == nil || !strings.Contains(err.Error(), "status: query API /api/v1/") {
		t.Errorf("picket status --once on a dead API: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var live syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"status", "--query-url", dead, "--short-every", "20ms", "--long-every", "20ms"}, &live, &live)
	}()
	poll.Until(t, 10*time.Second, "error lines, more than once", func() (bool, string) {
		return strings.Count(live.String(), " past 10m ERROR query API /api/v1/checks: ") >= 3, live.String()
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the dashboard stopped with %v; it should go on and end with ctx", err)
	}
	for args, want := range map[string]string{
		"--short-every 0s":                    "status: --short-every: 0s must be positive",
		"--query-url ftp://x":                 `status: --query-url "ftp://x": want http(s)://host:port`,
		"--data-dir " + t.TempDir():           "not a `picket dev` data directory",
		"--query-url http://127.0.0.1:1 what": `status: unexpected argument "what"`,
	} {
		if _, _, err := picket(t, append([]string{"status", "--once"}, strings.Fields(args)...)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("picket status --once %s: %v, want %q", args, err, want)
		}
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
