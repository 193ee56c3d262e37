// Package e2e runs whole-pipeline scenarios: on the embedded stack (kfake +
// libchdb) everywhere, and on real Kafka and ClickHouse containers where
// Docker runs. Every scenario is written once, against a Pipeline.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/notifier/deliver"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/schedule"
	"github.com/picket-dev/picket/services/query/api"
)

// Pipeline is a running stack a scenario drives.
type Pipeline interface {
	QueryURL() string
	StopProber() error
	// DataDir is the stack's data directory: its picket-dev.json says where
	// its operations API (replay, backtest, migrate) listens.
	DataDir() string
	// Store is its ClickHouse, for what a scenario does behind its back
	// (truncating tables).
	Store() *store.Store
}

// startFunc starts a pipeline with cfg's alert rules and webhooks, running checks.
type startFunc func(t *testing.T, cfg devstack.Config, checks []check.Check) Pipeline

type stackPipeline struct {
	s       *devstack.Stack
	dataDir string
}

func (p stackPipeline) QueryURL() string    { return p.s.QueryURL }
func (p stackPipeline) StopProber() error   { return p.s.StopProber() }
func (p stackPipeline) DataDir() string     { return p.dataDir }
func (p stackPipeline) Store() *store.Store { return p.s.Store() }

// scriptedTarget answers 200 to its first okBefore requests, 500 to the next
// failing ones, and 200 after that, logging what it served and when: the
// ground truth the pipeline's stats and alerts are checked against.
type scriptedTarget struct {
	okBefore, failing int
	mu                sync.Mutex
	served            map[int]int
	arrivals          []time.Time
	statuses          []int
}

func (st *scriptedTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	n := len(st.arrivals)
	st.arrivals = append(st.arrivals, time.Now())
	status := http.StatusOK
	if n >= st.okBefore && n < st.okBefore+st.failing {
		status = http.StatusInternalServerError
	}
	st.served[status]++
	st.statuses = append(st.statuses, status)
	st.mu.Unlock()
	w.WriteHeader(status)
}

// servedResult is one request the target served, at its scheduled tick.
type servedResult struct {
	tick time.Time
	ok   bool
}

// ticks places each request the target served on the check's grid: a run
// starts after its tick and before the next (the scheduler never starts a
// run an interval late: it skips to the next grid point). Runs of one check
// never overlap, so arrival order is tick order, and a skipped tick is simply
// absent, as it is from the results.
func ticks(t *testing.T, arrivals []time.Time, statuses []int, id string, interval time.Duration) []servedResult {
	t.Helper()
	offset := schedule.Offset(id, interval)
	out := make([]servedResult, len(arrivals))
	for i, a := range arrivals {
		out[i] = servedResult{tick: schedule.Next(a.Add(-interval), interval, offset), ok: statuses[i] == http.StatusOK}
		if i > 0 && !out[i].tick.After(out[i-1].tick) {
			t.Fatalf("requests %d and %d both map to tick %s (arrivals %s, %s): a run started over an interval late",
				i-1, i, out[i].tick, arrivals[i-1], a)
		}
	}
	return out
}

// expectedTransition is what an availability rule must emit, computed from
// what the target served, independently of the aggregator.
type expectedTransition struct {
	to           string
	at           time.Time
	availability float64
}

// expectTransitions applies an availability rule (threshold over the window
// ending at each result, (at-window, at]; no verdict before minSamples
// results) to the served results in tick order.
func expectTransitions(rs []servedResult, window time.Duration, threshold float64, minSamples int) []expectedTransition {
	var out []expectedTransition
	down := false
	for i, r := range rs {
		samples, ok := 0, 0
		for j := i; j >= 0 && rs[j].tick.After(r.tick.Add(-window)); j-- {
			samples++
			if rs[j].ok {
				ok++
			}
		}
		if samples < minSamples {
			continue
		}
		avail := float64(ok) / float64(samples)
		if failing := avail < threshold; failing != down {
			down = failing
			to := alert.StateUp
			if down {
				to = alert.StateDown
			}
			out = append(out, expectedTransition{to: to, at: r.tick, availability: avail})
		}
	}
	return out
}

func (st *scriptedTarget) total() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.arrivals)
}

// recorder is the webhook receiver: it keeps every payload.
type recorder struct {
	mu  sync.Mutex
	got []deliver.Payload
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p deliver.Payload
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, p)
	rc.mu.Unlock()
}

func (rc *recorder) payloads() []deliver.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]deliver.Payload(nil), rc.got...)
}

// eventually checks cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, timeout, what, cond)
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// outageAndRecovery: a target answers 200, then 500 for a stretch, then 200.
// The webhook gets exactly one down and one up message with the exact texts,
// and the stats API counts exactly what the target served.
func outageAndRecovery(t *testing.T, start startFunc) {
	const (
		interval = 100 * time.Millisecond
		okBefore = 40
		failing  = 40
		after    = 40
	)
	target := &scriptedTarget{okBefore: okBefore, failing: failing, served: map[int]int{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	rec := &recorder{}
	hook := httptest.NewServer(rec)
	defer hook.Close()

	cfg := devstack.DefaultConfig()
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	cfg.Webhooks = append(cfg.Webhooks, notifier.WebhookConfig{Name: "recorder", URL: hook.URL, Timeout: 5 * time.Second})
	// 80 % over 2 s: 20 results per window at a 100 ms interval. The first
	// result waits a lateness (1 s of event time) for other locations' results.
	cfg.Alerting.Rules["availability"] = alert.Rule{Kind: alert.KindAvailability, Threshold: 0.8, Window: 2 * time.Second}
	cfg.Alerting.Lateness = time.Second
	checks := []check.Check{{
		// The timeout as long as the interval allows: a run the target
		// served but the prober timed out on (a loaded CI machine) is a
		// sample the target's log does not have.
		ID: "shop", Name: "Shop checkout", Interval: interval, Timeout: 95 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: ts.URL + "/checkout", ExpectedStatus: []int{200}},
	}}
	began := time.Now()
	p := start(t, cfg, checks)

	eventually(t, 60*time.Second, "the target to serve every phase", func() (bool, string) {
		n := target.total()
		return n >= okBefore+failing+after, fmt.Sprintf("served %d", n)
	})
	if err := p.StopProber(); err != nil {
		t.Fatalf("stop prober: %v", err)
	}
	target.mu.Lock()
	served := map[int]int{}
	for k, v := range target.served {
		served[k] = v
	}
	total := len(target.arrivals)
	results := ticks(t, target.arrivals, target.statuses, "shop", interval)
	target.mu.Unlock()

	// Stats equal what the target itself served.
	q := url.Values{"from": {began.Add(-time.Minute).Format(time.RFC3339)}, "to": {time.Now().Add(time.Minute).Format(time.RFC3339)}}
	statsURL := p.QueryURL() + "/api/v1/checks/shop/stats?" + q.Encode()
	var st api.StatsJSON
	eventually(t, 30*time.Second, "every result in the stats", func() (bool, string) {
		getJSON(t, statsURL, &st)
		// The failure classes tell a run the target never saw (a
		// connect or timeout failure under load) from a counted twice.
		return st.Samples == uint64(total), fmt.Sprintf("samples %d of %d (classes %v, status codes %v)", st.Samples, total, st.FailureClasses, st.StatusCodes)
	})
	if want := float64(served[200]) / float64(total); st.Availability != want || st.Successes != uint64(served[200]) {
		t.Errorf("availability %v (%d successes), target served %d of %d ok (%v)", st.Availability, st.Successes, served[200], total, want)
	}
	if st.StatusCodes["200"] != uint64(served[200]) || st.StatusCodes["500"] != uint64(served[500]) || len(st.StatusCodes) != 2 {
		t.Errorf("status codes %v, target served %v", st.StatusCodes, served)
	}
	if st.ResponseTimeMS.Max <= 0 || st.ResponseTimeMS.Avg <= 0 || st.TTFBMS.Max < st.TTFBMS.Avg || st.ResponseTimeMS.Max < st.TTFBMS.Max {
		t.Errorf("implausible timings: %+v %+v", st.ResponseTimeMS, st.TTFBMS)
	}
	if ph := st.PhasesMS; ph.Connect <= 0 || ph.Processing <= 0 || ph.DNS != 0 || ph.TLS != 0 ||
		ph.Connect+ph.Processing+ph.Transfer > st.ResponseTimeMS.Avg {
		t.Errorf("implausible phases for plain HTTP to an IP address: %+v (avg response %v ms)", ph, st.ResponseTimeMS.Avg)
	}

	// Exactly one down and one up, with the exact texts.
	eventually(t, 30*time.Second, "two webhook deliveries", func() (bool, string) {
		got := rec.payloads()
		return len(got) >= 2, fmt.Sprintf("%d deliveries", len(got))
	})
	var alerts struct{ Alerts []api.AlertJSON }
	eventually(t, 10*time.Second, "two transitions in the alert history", func() (bool, string) {
		getJSON(t, p.QueryURL()+"/api/v1/alerts?check_id=shop&window=1h", &alerts)
		return len(alerts.Alerts) == 2, fmt.Sprintf("%d transitions", len(alerts.Alerts))
	})
	got := rec.payloads()
	if len(got) != 2 || got[0].State != "down" || got[1].State != "up" {
		t.Fatalf("webhook got %d payloads %+v, want one down then one up", len(got), got)
	}
	// The texts are what the served results imply: the availability over
	// the window at the tick that crossed the threshold (15/20 and 16/20
	// when every tick ran; a skipped tick changes them, and the rule too).
	rule := cfg.Alerting.Rules["availability"]
	want := expectTransitions(results, rule.Window, rule.Threshold, int(rule.Window/interval)/2)
	if len(want) != 2 || want[0].to != alert.StateDown || want[1].to != alert.StateUp {
		t.Fatalf("the target served %v: its results imply transitions %+v, not one down and one up", served, want)
	}
	down, up := got[0], got[1]
	wantDown := fmt.Sprintf("Website Shop checkout is down. availability=%s, time=%s",
		alert.Percent(want[0].availability), want[0].at.UTC().Format(time.RFC3339))
	if down.Message != wantDown {
		t.Errorf("down message\n got %q\nwant %q", down.Message, wantDown)
	}
	wantUp := fmt.Sprintf("Website Shop checkout is up again. availability=%s, time=%s, recovered after %s (down since %s)",
		alert.Percent(want[1].availability), want[1].at.UTC().Format(time.RFC3339),
		want[1].at.Sub(want[0].at).Round(time.Millisecond), want[0].at.UTC().Format(time.RFC3339))
	if up.Message != wantUp {
		t.Errorf("up message\n got %q\nwant %q", up.Message, wantUp)
	}
	for i, p := range got {
		if at, err := time.Parse(time.RFC3339Nano, p.At); err != nil || !at.Equal(want[i].at) {
			t.Errorf("%s at %s (%v), want the tick %s", p.State, p.At, err, want[i].at)
		}
	}
	if alerts.Alerts[0].Message != up.Message || alerts.Alerts[1].Message != down.Message {
		t.Errorf("alert history %+v does not match the webhook payloads", alerts.Alerts)
	}
}

// The ground truth follows what was served: with every tick run, the down
// comes at the 5th failure (15/20) and the up at the 16th success (16/20);
// a tick the prober skipped under load changes both, and the expectation
// with them, instead of failing the scenario.
func TestExpectTransitionsFollowTheServedTicks(t *testing.T) {
	const interval = 100 * time.Millisecond
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var rs []servedResult
	for i := range 120 {
		rs = append(rs, servedResult{tick: base.Add(time.Duration(i) * interval), ok: i < 40 || i >= 80})
	}
	got := expectTransitions(rs, 2*time.Second, 0.8, 10)
	want := []expectedTransition{{alert.StateDown, rs[44].tick, 0.75}, {alert.StateUp, rs[95].tick, 0.8}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("every tick run: %+v, want %+v", got, want)
	}
	skipped := append(append([]servedResult(nil), rs[:30]...), rs[31:]...) // tick 30 skipped
	got = expectTransitions(skipped, 2*time.Second, 0.8, 10)
	if len(got) != 2 || got[0].availability != 15.0/19 || !got[0].at.Equal(rs[43].tick) {
		t.Fatalf("tick 30 skipped: %+v, want the down at the 4th failure with 15/19 (78.95 %%)", got)
	}
}
