package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query/api"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }

// testConfig is the default configuration on free ports in a fresh data
// directory and database.
func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Demo.TargetAddr, cfg.Demo.ReceiverAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Database = embeddedtest.Database(t)
	cfg.Prober.Definitions = false
	return cfg
}

func testOptions(t *testing.T) Options {
	level := slog.LevelWarn + 8
	if os.Getenv("PICKET_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return Options{Backend: embeddedtest.Backend(t), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}
}

func start(t *testing.T, cfg Config, opts Options) *Stack {
	t.Helper()
	s, err := Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// noLeaks waits until the goroutines are back to what they were before a
// failed start: every Kafka client, server and kfake broker it started has
// stopped (goleak is not available here).
func noLeaks(t *testing.T, before int) {
	t.Helper()
	poll.Until(t, 10*time.Second, "goroutines of the failed start to end", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before the start", n, before)
	})
}

// Every start failure is an error saying what is wrong and what to change,
// never a panic, and leaves nothing behind: the same data directory starts
// cleanly right after.
func TestStartFailuresSayWhyAndLeakNothing(t *testing.T) {
	embeddedtest.Backend(t) // the shared engine's goroutines are not the start's
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	typo := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(typo, []byte("checks:\n  - id: a\n    intervall: 5s\n    http: {url: http://127.0.0.1:1/}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	missingTokens := filepath.Join(t.TempDir(), "tokens")

	for _, c := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"query port taken", func(c *Config) { c.QueryAddr = addr },
			"query_addr " + addr + " is in use — is another `picket dev` running? change query_addr (query listen " + addr + ": listen tcp " + addr + ": bind: address already in use)"},
		{"admin port taken", func(c *Config) { c.AdminAddr = addr }, "admin_addr " + addr + " is in use — is another `picket dev` running? change admin_addr"},
		{"demo receiver port taken", func(c *Config) { c.Demo.ReceiverAddr = addr },
			"demo.receiver_addr " + addr + " is in use — is another `picket dev` running? change demo.receiver_addr"},
		{"kafka port taken", func(c *Config) { c.KafkaAddr = addr }, "kafka_addr " + addr + " is in use — is another `picket dev` running? change kafka_addr"},
		{"typo in the checks file", func(c *Config) { c.ChecksFile = typo }, "checks_file: checks file " + typo + ": "},
		{"tokens file missing", func(c *Config) { c.Query.Auth.TokensFile = missingTokens },
			"query.auth.tokens_file: open " + missingTokens + ": no such file or directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			c.set(&cfg)
			before := runtime.NumGoroutine()
			s, err := Start(context.Background(), cfg, testOptions(t))
			if err == nil {
				s.Close()
				t.Fatal("started")
			}
			if s != nil || !strings.Contains(err.Error(), c.want) || strings.HasPrefix(c.want, "query.") && !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
			noLeaks(t, before)
			// The data directory's lock and Kafka's files were released.
			dir := cfg.DataDir
			cfg = testConfig(t)
			cfg.DataDir = dir
			start(t, cfg, testOptions(t))
		})
	}
}

// A second stack on a data directory in use is refused before it touches it.
func TestSecondInstanceOnTheSameDataDirIsRefused(t *testing.T) {
	embeddedtest.Backend(t)
	cfg := testConfig(t)
	before := runtime.NumGoroutine()
	first := start(t, cfg, testOptions(t))
	second := cfg
	second.Database = embeddedtest.Database(t)
	_, err := Start(context.Background(), second, testOptions(t))
	want := "data_dir " + cfg.DataDir + " is in use by another `picket dev` (pid "
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second instance: %v, want %q", err, want)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	noLeaks(t, before)
	// Once the first stopped, the directory is free.
	start(t, cfg, testOptions(t))
}

// A typo in the configuration file is refused naming the key.
func TestConfigFileTypoIsRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "dev.yaml")
	if err := os.WriteFile(f, []byte("qurey_addr: 127.0.0.1:8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err := config.Load(&cfg, DefaultConfig(), config.Source{File: f})
	if err == nil || err.Error() != `config: unknown key "qurey_addr"` {
		t.Fatalf("typo: %v", err)
	}
}

// target counts the requests of each path.
type target struct {
	mu   sync.Mutex
	hits map[string]int
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	tg.hits[r.URL.Path]++
	tg.mu.Unlock()
}

func (tg *target) count(path string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.hits[path]
}

func newTarget(t *testing.T) (*target, string) {
	tg := &target{hits: map[string]int{}}
	srv := httptest.NewServer(tg)
	t.Cleanup(srv.Close)
	return tg, srv.URL
}

func checksYAML(url string, ids ...string) []byte {
	var b strings.Builder
	b.WriteString("checks:\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "  - id: %s\n    interval: 100ms\n    http: {url: %q}\n", id, url+"/"+id)
	}
	return []byte(b.String())
}

// dev follows its checks file: a check added while it runs is probed.
func TestChecksFileIsReloaded(t *testing.T) {
	tg, url := newTarget(t)
	file := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(file, checksYAML(url, "first"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Demo.Enabled, cfg.ChecksFile, cfg.Prober.ReloadInterval = false, file, 50*time.Millisecond
	start(t, cfg, testOptions(t))
	poll.True(t, 10*time.Second, "the first check to be probed", func() bool { return tg.count("/first") > 0 })
	if err := os.WriteFile(file, checksYAML(url, "first", "second"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 10*time.Second, "the check added to the file to be probed", func() bool { return tg.count("/second") > 0 })
}

// `picket apply` against dev's Kafka runs: dev's prober follows the
// definitions topic.
func TestAppliedChecksAreProbed(t *testing.T) {
	tg, url := newTarget(t)
	cfg := testConfig(t)
	cfg.Prober.Definitions = true
	s := start(t, cfg, testOptions(t))

	// What `picket apply -f checks.yaml` does, against the stack's Kafka.
	checks, err := check.Parse(checksYAML(url, "applied"))
	if err != nil {
		t.Fatal(err)
	}
	kc := kafka.DefaultConfig()
	kc.Brokers = []string{s.KafkaAddr}
	cl, err := kgo.NewClient(kc.ClientOptions(slog.New(slog.NewTextHandler(io.Discard, nil)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cl, kc); err != nil {
		t.Fatal(err)
	}
	if _, err := prober.Apply(ctx, cl, kc.ChecksTopic, checks, false, false); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 30*time.Second, "the applied check to be probed", func() bool { return tg.count("/applied") > 0 })
	// The demo still runs next to it.
	if s.TargetURL == "" {
		t.Fatal("demo off")
	}
}

// The banner names only what runs.
func TestBannerNamesOnlyWhatRuns(t *testing.T) {
	cfg := DefaultConfig()
	s := &Stack{KafkaAddr: "127.0.0.1:9092", QueryURL: "http://127.0.0.1:8080", AdminURL: "http://127.0.0.1:9100",
		TargetURL: "http://127.0.0.1:8081", ReceiverURL: "http://127.0.0.1:8082", OpsURL: "http://127.0.0.1:40000"}
	with := Banner(cfg, s)
	if want := "`picket replay --from 1h`, `picket backtest` and `picket migrate` run against this stack (found from data)."; !strings.Contains(with, want) {
		t.Errorf("banner does not say replay and backtest run against it (%q):\n%s", want, with)
	}
	for _, want := range []string{"demo target       http://127.0.0.1:8081/reservations", "webhooks received http://127.0.0.1:8082/",
		"/api/v1/checks/reservations/stats?window=10m"} {
		if !strings.Contains(with, want) {
			t.Errorf("banner with the demo lacks %q:\n%s", want, with)
		}
	}
	s.TargetURL, s.ReceiverURL, s.ChecksFile = "", "", "checks.yaml"
	without := Banner(cfg, s)
	for _, unwanted := range []string{"8081", "8082", "demo", "reservations", "webhooks received"} {
		if strings.Contains(without, unwanted) {
			t.Errorf("banner without the demo says %q:\n%s", unwanted, without)
		}
	}
	if !strings.Contains(without, "Checks come from checks.yaml (reloaded when it changes).") {
		t.Errorf("banner without the demo does not name the checks file:\n%s", without)
	}
}

// `picket dev --set query.auth.tokens=…` guards the dev stack's API: the
// dashboard page stays open, an API route needs the token.
func TestQueryAuthFromSet(t *testing.T) {
	const token = "dev-token-0123456789abcdef"
	cfg := testConfig(t)
	if err := config.Load(&cfg, cfg, config.Source{Sets: []string{"query.auth.tokens=" + token, "query.rate_limit.requests_per_second=50"}}); err != nil {
		t.Fatal(err)
	}
	cfg.Demo.Enabled, cfg.ChecksFile, cfg.Prober.Definitions = false, "", true
	s := start(t, cfg, testOptions(t))
	status := func(path, token string) int {
		req, _ := http.NewRequest("GET", s.QueryURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The aggregator creates the tables just after the start.
	poll.Until(t, 30*time.Second, "the alert history with the token", func() (bool, string) {
		n := status("/api/v1/alerts", token)
		return n == 200, fmt.Sprintf("status %d", n)
	})
	for _, c := range []struct {
		path, token string
		want        int
	}{{"/", "", 200}, {"/api/v1/alerts", "", 401}, {"/api/v1/alerts", "wrong-token-0123456789", 401}} {
		if n := status(c.path, c.token); n != c.want {
			t.Errorf("GET %s with token %q: %d, want %d", c.path, c.token, n, c.want)
		}
	}
	if b := Banner(cfg, s); !strings.Contains(b, "needs a bearer token") {
		t.Errorf("banner does not say the API needs a token:\n%s", b)
	}
}

// A status page set with --set is served by dev's query service, with the
// checks' state and today's uptime as they are probed; a bad one is refused
// naming its key; with none and the demo on, the demo check has one.
func TestStatusPagesAreServed(t *testing.T) {
	_, url := newTarget(t)
	file := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(file, checksYAML(url, "first", "second"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	if err := config.Load(&cfg, cfg, config.Source{Sets: []string{"query.status_pages.shop.title=Shop status",
		"query.status_pages.shop.checks=second,first", "demo.enabled=false", "checks_file=" + file}}); err != nil {
		t.Fatal(err)
	}
	s := start(t, cfg, testOptions(t))
	if strings.Join(s.StatusPages, ",") != "shop" || !strings.Contains(Banner(cfg, s), "status page       "+s.QueryURL+"/status/shop") {
		t.Errorf("status pages %v; banner:\n%s", s.StatusPages, Banner(cfg, s))
	}
	statusPoll(t, s.QueryURL+"/api/v1/status/shop", "second,first")
	if code, body := httpGet(t, s.QueryURL+"/status/shop"); code != 200 || !strings.Contains(body, "<h1>Shop status</h1>") ||
		!strings.Contains(body, `data-check="second" data-state="up"`) {
		t.Errorf("/status/shop: %d\n%s", code, body)
	}
	if code, _ := httpGet(t, s.QueryURL+"/status/demo"); code != 404 {
		t.Errorf("/status/demo with pages of one's own: %d", code)
	}
	if code, body := httpGet(t, s.QueryURL+"/badge/first/state.svg"); code != 200 || !strings.Contains(body, ">up</text>") {
		t.Errorf("state badge: %d %s", code, body)
	}

	bad := DefaultConfig()
	err := config.Load(&bad, DefaultConfig(), config.Source{Sets: []string{"query.status_pages.Shop.checks=first"}})
	if err == nil || !strings.HasPrefix(err.Error(), `config: query.status_pages: slug "Shop"`) {
		t.Errorf("a bad slug: %v", err)
	}

	demo := testConfig(t)
	demo.Demo.Interval = 100 * time.Millisecond
	d := start(t, demo, testOptions(t))
	statusPoll(t, d.QueryURL+"/api/v1/status/demo", DemoCheckID)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// statusPoll waits until the status page at url lists the checks ids, all up
// with a run today.
func statusPoll(t *testing.T, url, ids string) {
	t.Helper()
	poll.Until(t, 30*time.Second, "the status page to show its checks up", func() (bool, string) {
		code, body := httpGet(t, url)
		var p api.StatusPageJSON
		if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
			return false, fmt.Sprintf("%d %s", code, body)
		}
		var got []string
		for _, c := range p.Checks {
			today := c.Days[len(c.Days)-1]
			if c.State != api.StateUp || today.Runs == 0 {
				return false, fmt.Sprintf("%s %s, %d runs today", c.ID, c.State, today.Runs)
			}
			got = append(got, c.ID)
		}
		return strings.Join(got, ",") == ids && p.Status == api.PageOperational, body
	})
}
