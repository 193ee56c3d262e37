package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/platform/store/storetest"
	"github.com/picket-dev/picket/services/prober/check"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }

// flakyTarget answers 200, except 500 to requests okBefore..okBefore+failing-1,
// and counts what it served: the ground truth the stats are checked against.
type flakyTarget struct {
	okBefore, failing int
	mu                sync.Mutex
	statuses          []int
}

func (f *flakyTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	n := len(f.statuses)
	status := http.StatusOK
	if n >= f.okBefore && n < f.okBefore+f.failing {
		status = http.StatusInternalServerError
	}
	f.statuses = append(f.statuses, status)
	f.mu.Unlock()
	w.WriteHeader(status)
}

func (f *flakyTarget) served() (total, ok int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	return len(f.statuses), ok
}

// devWithHistory runs a dev stack whose one check has served at least n
// results (failing for a while), all of them ingested, with the prober
// stopped so that nothing changes under the test; configure adjusts the
// configuration before the stack starts.
func devWithHistory(t *testing.T, n int, configure ...func(*devstack.Config)) (*devstack.Stack, devstack.Config, *store.Store, *flakyTarget) {
	t.Helper()
	target := &flakyTarget{okBefore: n / 3, failing: n / 4}
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	cfg := devstack.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	cfg.Database = embeddedtest.Database(t)
	for _, f := range configure {
		f(&cfg)
	}
	chk := check.Check{ID: "api", Name: "API", Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: srv.URL + "/", ExpectedStatus: []int{200}}}
	s, err := devstack.Start(context.Background(), cfg, devstack.Options{Checks: []check.Check{chk}, Backend: embeddedtest.Backend(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	poll.Until(t, 30*time.Second, "the target to serve its script", func() (bool, string) {
		total, _ := target.served()
		return total >= n, fmt.Sprintf("%d of %d requests served", total, n)
	})
	if err := s.StopProber(); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(embeddedtest.Backend(t), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := target.served()
	// A batch's raw rows are written first, then the minutes, hours and
	// days they touch: the history is whole once the days count every run.
	poll.Until(t, 30*time.Second, "every result to be ingested and rolled up", func() (bool, string) {
		got := rawCount(t, st)
		days := runsIn(t, st, "check_rollup_1d")
		return got == total && days == total, fmt.Sprintf("%d results stored and %d in the day rollups, the target served %d", got, days, total)
	})
	return s, cfg, st, target
}

func rawCount(t *testing.T, st *store.Store) int {
	t.Helper()
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := st.Backend().Select(context.Background(), &rows, "SELECT count() AS n FROM "+st.Database()+".check_results FINAL", nil); err != nil {
		t.Fatal(err)
	}
	return int(rows[0].N)
}

func runsIn(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := st.Backend().Select(context.Background(), &rows, "SELECT sum(runs) AS n FROM "+st.Database()+"."+table+" FINAL", nil); err != nil {
		t.Fatal(err)
	}
	return int(rows[0].N)
}

// scheduled are the stored results' ticks, in order.
func scheduled(t *testing.T, st *store.Store) []time.Time {
	t.Helper()
	var rows []struct {
		At time.Time `ch:"scheduled_at"`
	}
	if err := st.Backend().Select(context.Background(), &rows, "SELECT scheduled_at FROM "+st.Database()+".check_results FINAL ORDER BY scheduled_at", nil); err != nil {
		t.Fatal(err)
	}
	out := make([]time.Time, len(rows))
	for i, r := range rows {
		out[i] = r.At.UTC()
	}
	return out
}

// picture is what a user sees of the history: the check's stats over the
// whole range (and the figures) and every rollup row.
type picture struct {
	stats store.Stats
	storetest.Picture
}

func look(t *testing.T, st *store.Store, from, to time.Time) picture {
	t.Helper()
	stats, err := st.Stats(context.Background(), store.StatsQuery{CheckID: "api", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	return picture{stats, storetest.Picture{Stats: fmt.Sprintf("%+v", stats), Rollups: storetest.RollupRows(t, st)}}
}

func picket(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// With `picket dev` running, `picket replay`, `backtest` and `migrate` run
// against it, found from its data directory: a replay over ingested history
// changes nothing a user sees; after the tables are truncated it restores
// the stats and rollups exactly; a candidate rule's backtest prints the
// transitions the target's script implies.
func TestOperationsOnARunningDevStack(t *testing.T) {
	s, cfg, st, target := devWithHistory(t, 48)
	total, ok := target.served()
	ticks := scheduled(t, st)
	from := ticks[0].Truncate(time.Minute).Add(-time.Minute)
	to := ticks[len(ticks)-1].Add(time.Minute)
	before := look(t, st, from, to)
	if before.stats.Samples != uint64(total) || before.stats.Successes != uint64(ok) {
		t.Fatalf("stats %d samples, %d successes; the target served %d, %d of them 200", before.stats.Samples, before.stats.Successes, total, ok)
	}
	state := filepath.Join(t.TempDir(), "replay.json")
	replayArgs := []string{"replay", "--data-dir", cfg.DataDir, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--state", state}

	out, errOut, err := picket(t, replayArgs...)
	if err != nil {
		t.Fatalf("picket replay: %v\n%s", err, errOut)
	}
	if want := fmt.Sprintf("replayed %d records of picket.check-results.v1", total); !strings.Contains(out, want) {
		t.Errorf("picket replay printed %q, want %q", out, want)
	}
	if want := "picket replay: on the running `picket dev` in " + cfg.DataDir + " (pid "; !strings.Contains(errOut, want) {
		t.Errorf("picket replay's stderr %q does not say %q", errOut, want)
	}
	storetest.Same(t, "after a replay over ingested history", look(t, st, from, to).Picture, before.Picture)

	// The same replay again is resumed from its checkpoint: finished.
	if out, _, err := picket(t, replayArgs...); err != nil || !strings.Contains(out, "already finished") {
		t.Errorf("picket replay again: %v %q, want it already finished", err, out)
	}

	for _, table := range append([]string{"check_results"}, storetest.RollupTables...) {
		if err := st.Backend().Exec(context.Background(), "TRUNCATE TABLE "+st.Database()+"."+table, nil); err != nil {
			t.Fatal(err)
		}
	}
	if empty := look(t, st, from, to); empty.stats.Samples != 0 || len(empty.Rollups) != 0 {
		t.Fatalf("truncated, yet %d samples and %d rollup rows", empty.stats.Samples, len(empty.Rollups))
	}
	if _, errOut, err := picket(t, append(replayArgs, "--restart")...); err != nil {
		t.Fatalf("picket replay --restart: %v\n%s", err, errOut)
	}
	storetest.Same(t, "after truncating and replaying", look(t, st, from, to).Picture, before.Picture)

	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte("alerting:\n  rules:\n    streak:\n      kind: consecutive\n      failures: 3\n      successes: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Up to just after the last result: later, the check would go stale
	// (the prober was stopped), which is not what this asks about.
	btTo := ticks[len(ticks)-1].Add(50 * time.Millisecond)
	out, errOut, err = picket(t, "backtest", "--data-dir", cfg.DataDir, "--rules", rules, "--from", from.Format(time.RFC3339), "--to", btTo.Format(time.RFC3339Nano), "--warmup", "0s")
	if err != nil {
		t.Fatalf("picket backtest: %v\n%s", err, errOut)
	}
	// The target failed requests okBefore.. for failing requests: the third
	// failure opens the candidate alert, the second success after closes it.
	down, up := ticks[target.okBefore+2], ticks[target.okBefore+target.failing+1]
	var candidate []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[1] == "streak" {
			candidate = append(candidate, f[0]+" "+f[2]+" "+f[3])
		}
	}
	want := []string{"api " + down.Format(time.RFC3339Nano) + " down", "api " + up.Format(time.RFC3339Nano) + " up"}
	if !slices.Equal(candidate, want) {
		t.Errorf("picket backtest's candidate transitions %q, want %q; it printed:\n%s", candidate, want, out)
	}
	if want := fmt.Sprintf("%d results from %s to %s: candidate rules 2 transitions", total, from.Format(time.RFC3339), btTo.Format(time.RFC3339)); !strings.Contains(out, want) {
		t.Errorf("picket backtest's summary: want %q in\n%s", want, out)
	}

	if out, errOut, err := picket(t, "migrate", "--data-dir", cfg.DataDir); err != nil || out != "up to date\n" {
		t.Errorf("picket migrate: %v %q\n%s", err, out, errOut)
	}

	// The operations API serves only who can read the data directory's note.
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "picket-dev.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("picket-dev.json: %v, mode %v; want readable by its owner only", err, fi.Mode())
	}
	resp, err := http.Post(s.OpsURL+"/v1/migrate", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("operations API without the token: %s, want 401", resp.Status)
	}

	// Stopped, the production build says what to do rather than dialing a
	// server that is not there.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = picket(t, replayArgs...)
	if want := "replay: data_dir " + cfg.DataDir + " holds a stopped `picket dev`: start it (make run) and run this again, or use the embedded build"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("picket replay on a stopped dev stack (production build): %v, want %q", err, want)
	}
}

// A replay or backtest whose ClickHouse does not answer says so, named as
// what the user ran (it used to say "migrate:"), and a --data-dir that no
// `picket dev` used is refused as such.
func TestOperationsSayWhatDoesNotAnswer(t *testing.T) {
	_, _, err := picket(t, "replay", "--from", "1h", "--set", "clickhouse.addr=127.0.0.1:1", "--set", "clickhouse.dial_timeout=1s")
	if err == nil || !strings.HasPrefix(err.Error(), "replay: ClickHouse 127.0.0.1:1 does not answer: ") || strings.Contains(err.Error(), "migrate") {
		t.Errorf("picket replay on a ClickHouse that does not answer: %v", err)
	}
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rules, []byte("alerting:\n  rules:\n    streak: {kind: consecutive, failures: 3, successes: 2}\n"), 0o644)
	_, _, err = picket(t, "backtest", "--rules", rules, "--from", "1h", "--set", "clickhouse.addr=127.0.0.1:1", "--set", "clickhouse.dial_timeout=1s")
	if err == nil || !strings.HasPrefix(err.Error(), "backtest: ClickHouse 127.0.0.1:1 does not answer: ") {
		t.Errorf("picket backtest on a ClickHouse that does not answer: %v", err)
	}
	dir := t.TempDir()
	_, _, err = picket(t, "replay", "--from", "1h", "--data-dir", dir)
	if want := "replay: --data-dir " + dir + ": not a `picket dev` data directory (it has no picket-dev.lock)"; err == nil || err.Error() != want {
		t.Errorf("picket replay --data-dir on an empty directory: %v, want %q", err, want)
	}
}

// `make run` and then `picket migrate` (or replay, backtest) in the same
// directory needs no flag: ./data is the dev stack's. Naming a server
// (--set clickhouse.addr=…) goes to that server instead, as in production.
func TestOperationsFindTheDevStackInDotData(t *testing.T) {
	work := t.TempDir()
	cfg := devstack.DefaultConfig()
	cfg.DataDir = filepath.Join(work, "data")
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Demo.Enabled = false // the definitions prober alone: no check runs
	cfg.Database = embeddedtest.Database(t)
	s, err := devstack.Start(context.Background(), cfg, devstack.Options{Backend: embeddedtest.Backend(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Chdir(work)
	// The stack's aggregator migrates as it starts; whichever is first
	// applies them, and then they are up to date.
	if _, errOut, err := picket(t, "migrate"); err != nil {
		t.Fatalf("picket migrate: %v\n%s", err, errOut)
	}
	out, errOut, err := picket(t, "migrate")
	if err != nil || out != "up to date\n" || !strings.HasPrefix(errOut, "picket migrate: on the running `picket dev` in data (pid ") {
		t.Errorf("picket migrate next to a running dev stack's ./data: %v %q %q", err, out, errOut)
	}
	_, _, err = picket(t, "migrate", "--set", "clickhouse.addr=127.0.0.1:1", "--set", "clickhouse.dial_timeout=1s")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("picket migrate naming a server: %v, want it to dial that server", err)
	}
}
