// Package e2e runs whole-pipeline scenarios: on the embedded stack (kfake +
// libchdb) everywhere, and on real Kafka and ClickHouse containers where
// Docker runs. Every scenario is written once, against a Pipeline.
package e2e

import (
	"encoding/json"
	"fmt"
	"github.com/picket-dev/picket/platform/poll"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/notifier/deliver"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query/api"
)

// Pipeline is a running stack a scenario drives.
type Pipeline interface {
	QueryURL() string
	StopProber() error
}

// startFunc starts a pipeline with cfg's alert rules and webhooks, running checks.
type startFunc func(t *testing.T, cfg devstack.Config, checks []check.Check) Pipeline

type stackPipeline struct{ s *devstack.Stack }

func (p stackPipeline) QueryURL() string  { return p.s.QueryURL }
func (p stackPipeline) StopProber() error { return p.s.StopProber() }

// scriptedTarget answers 200 to its first okBefore requests, 500 to the next
// failing ones, and 200 after that, counting what it served.
type scriptedTarget struct {
	okBefore, failing int
	mu                sync.Mutex
	served            map[int]int
	arrivals          []time.Time
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
	st.mu.Unlock()
	w.WriteHeader(status)
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
	cfg.Demo.Enabled = false
	cfg.Webhooks = append(cfg.Webhooks, notifier.WebhookConfig{Name: "recorder", URL: hook.URL, Timeout: 5 * time.Second})
	// 80 % over 2 s: 20 results per window at a 100 ms interval. The first
	// result waits a lateness (1 s of event time) for other locations' results.
	cfg.Alerting.Rules["availability"] = alert.Rule{Kind: alert.KindAvailability, Threshold: 0.8, Window: 2 * time.Second}
	cfg.Alerting.Lateness = time.Second
	checks := []check.Check{{
		ID: "shop", Name: "Shop checkout", Interval: interval, Timeout: 80 * time.Millisecond,
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
	failStart, failEnd := target.arrivals[okBefore], target.arrivals[okBefore+failing]
	target.mu.Unlock()

	// Stats equal what the target itself served.
	q := url.Values{"from": {began.Add(-time.Minute).Format(time.RFC3339)}, "to": {time.Now().Add(time.Minute).Format(time.RFC3339)}}
	statsURL := p.QueryURL() + "/api/v1/checks/shop/stats?" + q.Encode()
	var st api.StatsJSON
	eventually(t, 30*time.Second, "every result in the stats", func() (bool, string) {
		getJSON(t, statsURL, &st)
		return st.Samples == uint64(total), fmt.Sprintf("samples %d of %d", st.Samples, total)
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
	down, up := got[0], got[1]
	downAt, _ := time.Parse(time.RFC3339Nano, down.At)
	upAt, _ := time.Parse(time.RFC3339Nano, up.At)
	// The 5th failure among the window's 20 results drops it to 15/20.
	wantDown := fmt.Sprintf("Website Shop checkout is down. availability=75.00%%, time=%s", downAt.UTC().Format(time.RFC3339))
	if down.Message != wantDown {
		t.Errorf("down message\n got %q\nwant %q", down.Message, wantDown)
	}
	// It is the tick of the 5th failing request.
	if fifth := failStart.Add(4 * interval); downAt.Before(fifth.Add(-interval)) || downAt.After(fifth.Add(interval)) {
		t.Errorf("down at %s, the 5th failure was served at %s", downAt, fifth)
	}
	// Recovery at the 16th success after the outage: 16/20; 35 + 16 ticks after the down.
	wantUp := fmt.Sprintf("Website Shop checkout is up again. availability=80.00%%, time=%s, recovered after 5.1s (down since %s)",
		upAt.UTC().Format(time.RFC3339), downAt.UTC().Format(time.RFC3339))
	if up.Message != wantUp {
		t.Errorf("up message\n got %q\nwant %q", up.Message, wantUp)
	}
	if upAt.Before(failEnd) {
		t.Errorf("up at %s, before the outage ended at %s", upAt, failEnd)
	}
	if alerts.Alerts[0].Message != up.Message || alerts.Alerts[1].Message != down.Message {
		t.Errorf("alert history %+v does not match the webhook payloads", alerts.Alerts)
	}
}
