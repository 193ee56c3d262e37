package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/cli/devstack/datadir"
	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/storetest"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query/api"
)

// opsClient reaches the pipeline's operations API as the picket CLI does:
// from the note in its data directory.
func opsClient(t *testing.T, p Pipeline) ops.Client {
	t.Helper()
	st, err := datadir.Inspect(p.DataDir())
	if err != nil || !st.Running || st.Info.OpsURL == "" {
		t.Fatalf("data directory %s: %+v %v: no running stack with an operations API", p.DataDir(), st, err)
	}
	return ops.Client{URL: st.Info.OpsURL, Token: st.Info.Token, Where: "the stack in " + p.DataDir()}
}

func sumRuns(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := st.Backend().Select(context.Background(), &rows, "SELECT toUInt64(sum(runs)) AS n FROM "+st.Database()+"."+table+" FINAL", nil); err != nil {
		t.Fatal(err)
	}
	return int(rows[0].N)
}

// history is what a user sees of a check's history: its stats over a range
// (the query API's JSON) and every rollup row.
type history struct {
	storetest.Picture
	samples uint64
}

func readHistory(t *testing.T, p Pipeline, checkID string, from, to time.Time) history {
	t.Helper()
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	var js api.StatsJSON
	u := p.QueryURL() + "/api/v1/checks/" + checkID + "/stats?" + q.Encode()
	h := history{Picture: storetest.Picture{Stats: "no result stored"}}
	if resp, err := http.Get(u); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound { // 404: none stored (truncated)
		getJSON(t, u, &js)
		h.Stats, h.samples = fmt.Sprintf("%+v", js), js.Samples
	}
	h.Rollups = storetest.RollupRows(t, p.Store())
	return h
}

// replayKeepsAndRestoresHistory: a replay of a range over ingested history
// leaves the stats and rollups as they were; after check_results and the
// rollups are truncated, a replay restores them exactly; and they count
// exactly what the target served. The replay goes through the stack's
// operations API, as `picket replay` with a running stack does.
func replayKeepsAndRestoresHistory(t *testing.T, start startFunc) {
	// A run the target served but the prober timed out on counts as a
	// failure the target's log does not show: the timeout leaves room for
	// a loaded CI machine (a 40 ms one fired there once, under -race).
	const interval = 150 * time.Millisecond
	target := &scriptedTarget{okBefore: 20, failing: 10, served: map[int]int{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	cfg := devstack.DefaultConfig()
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	checks := []check.Check{{
		ID: "shop", Name: "Shop", Interval: interval, Timeout: 120 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: ts.URL + "/", ExpectedStatus: []int{200}},
	}}
	began := time.Now()
	p := start(t, cfg, checks)
	eventually(t, 60*time.Second, "the target to serve its script", func() (bool, string) {
		n := target.total()
		return n >= 50, fmt.Sprintf("served %d", n)
	})
	if err := p.StopProber(); err != nil {
		t.Fatal(err)
	}
	total := target.total()
	from, to := began.Add(-time.Minute).Truncate(time.Minute), time.Now().Add(time.Minute)
	eventually(t, 30*time.Second, "every result ingested and rolled up", func() (bool, string) {
		h := readHistory(t, p, "shop", from, to)
		days := sumRuns(t, p.Store(), "check_rollup_1d")
		return h.samples >= uint64(total) && days == int(h.samples), fmt.Sprintf("%d samples, %d runs in the day rollups, %d served", h.samples, days, total)
	})
	before := readHistory(t, p, "shop", from, to)
	target.mu.Lock()
	ok := target.served[200]
	target.mu.Unlock()
	if !strings.Contains(before.Stats, fmt.Sprintf("Successes:%d ", ok)) {
		t.Errorf("stats %s: want %d successes, as the target served", before.Stats, ok)
	}

	c := opsClient(t, p)
	// As on a terminal: the status line is drawn where the stack runs and
	// streamed back.
	req := ops.ReplayRequest{From: from, To: to, Batch: 7, StatePath: filepath.Join(t.TempDir(), "replay.json"), Log: logConfig(), Terminal: true}
	var out, errOut bytes.Buffer
	if err := c.Replay(context.Background(), req, &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	if want := fmt.Sprintf("replayed %d records", before.samples); !strings.Contains(out.String(), want) {
		t.Errorf("replay printed %q, want %q", out.String(), want)
	}
	if want := fmt.Sprintf("replay 100.0%%  %d/%d records", before.samples, before.samples); !strings.Contains(errOut.String(), want) {
		t.Errorf("the replay's progress did not come back: want %q in %q", want, errOut.String())
	}
	storetest.Same(t, "after replaying ingested history", readHistory(t, p, "shop", from, to).Picture, before.Picture)

	st := p.Store()
	for _, table := range append([]string{"check_results"}, storetest.RollupTables...) {
		if err := st.Backend().Exec(context.Background(), "TRUNCATE TABLE "+st.Database()+"."+table, nil); err != nil {
			t.Fatal(err)
		}
	}
	if h := readHistory(t, p, "shop", from, to); h.samples != 0 || len(h.Rollups) != 0 {
		t.Fatalf("truncated, yet %d samples and %d rollup rows", h.samples, len(h.Rollups))
	}
	req.Restart = true
	if err := c.Replay(context.Background(), req, &out, &errOut); err != nil {
		t.Fatalf("replay after truncating: %v\n%s", err, errOut.String())
	}
	storetest.Same(t, "after truncating and replaying", readHistory(t, p, "shop", from, to).Picture, before.Picture)
}

func logConfig() telemetry.LogConfig { return telemetry.LogConfig{Format: "text", Level: "warn"} }

// flakyReceiver answers 503 to its first failFirst requests and 200 after,
// logging every request and which it accepted: the ground truth of what was
// delivered.
type flakyReceiver struct {
	failFirst int
	mu        sync.Mutex
	attempts  []string // event id of each request
	accepted  []string
	rec       recorder
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("webhook-id")
	f.mu.Lock()
	n := len(f.attempts)
	f.attempts = append(f.attempts, id)
	if n < f.failFirst {
		f.mu.Unlock()
		http.Error(w, "receiver down for a while", http.StatusServiceUnavailable)
		return
	}
	f.accepted = append(f.accepted, id)
	f.mu.Unlock()
	f.rec.ServeHTTP(w, r)
}

// webhookReceiverFailsForAWhile: the receiver refuses its first deliveries;
// the notifier retries until each alert transition is delivered, in order,
// and accepted exactly once.
func webhookReceiverFailsForAWhile(t *testing.T, start startFunc) {
	const interval = 50 * time.Millisecond
	target := &scriptedTarget{okBefore: 20, failing: 30, served: map[int]int{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	recv := &flakyReceiver{failFirst: 4}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	cfg := devstack.DefaultConfig()
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	cfg.Webhooks = append(cfg.Webhooks, notifier.WebhookConfig{Name: "flaky", URL: hook.URL, Timeout: 5 * time.Second})
	cfg.Alerting.Rules = map[string]alert.Rule{"streak": {Kind: alert.KindConsecutive, Failures: 3, Successes: 3}}
	cfg.Alerting.Lateness = 200 * time.Millisecond
	checks := []check.Check{{
		ID: "shop", Name: "Shop", Interval: interval, Timeout: 40 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: ts.URL + "/", ExpectedStatus: []int{200}},
	}}
	p := start(t, cfg, checks)
	eventually(t, 60*time.Second, "the target to serve its script", func() (bool, string) {
		n := target.total()
		return n >= 70, fmt.Sprintf("served %d", n)
	})
	if err := p.StopProber(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the down and the up delivered", func() (bool, string) {
		got := recv.rec.payloads()
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return len(got) >= 2, fmt.Sprintf("%d accepted of %d attempts", len(got), len(recv.attempts))
	})
	got := recv.rec.payloads()
	if len(got) != 2 || got[0].State != "down" || got[1].State != "up" {
		t.Fatalf("accepted %+v, want one down then one up", got)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	seen := map[string]int{}
	for _, id := range recv.accepted {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 || id == "" {
			t.Errorf("event %q accepted %d times, want once", id, n)
		}
	}
	if len(recv.attempts) < recv.failFirst+2 {
		t.Errorf("%d attempts: the %d refused deliveries were not retried", len(recv.attempts), recv.failFirst)
	}
	if recv.attempts[0] != got[0].EventID {
		t.Errorf("the first refused delivery was %q, the down accepted is %q: the retry delivered something else", recv.attempts[0], got[0].EventID)
	}
}

func TestEmbeddedReplayKeepsAndRestoresHistory(t *testing.T) {
	replayKeepsAndRestoresHistory(t, startEmbedded)
}
func TestContainersReplayKeepsAndRestoresHistory(t *testing.T) {
	replayKeepsAndRestoresHistory(t, startContainers)
}
func TestEmbeddedWebhookReceiverFailsForAWhile(t *testing.T) {
	webhookReceiverFailsForAWhile(t, startEmbedded)
}
func TestContainersWebhookReceiverFailsForAWhile(t *testing.T) {
	webhookReceiverFailsForAWhile(t, startContainers)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
