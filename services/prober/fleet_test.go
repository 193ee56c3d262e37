package prober

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/services/prober/check"
)

func (p *Prober) running() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.runners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func fleetChecks(t *testing.T, base string, extra string) []check.Check {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("checks:\n")
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		fmt.Fprintf(&sb, "  - {id: %s, interval: 50ms, timeout: 40ms, http: {url: %q}}\n", id, base+"/"+id)
	}
	sb.WriteString("  - {id: mars-only, locations: [mars], interval: 50ms, timeout: 40ms, http: {url: \"" + base + "/mars\"}}\n")
	sb.WriteString(extra)
	checks, err := check.Parse([]byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	return checks
}

// newFleetEnv starts a target counting requests by path and a kfake broker
// with Picket's topics.
func newFleetEnv(t *testing.T) (*pathCounter, *httptest.Server, kafka.Config, *kgo.Client) {
	t.Helper()
	pc := &pathCounter{n: map[string]int{}}
	srv := httptest.NewServer(pc)
	t.Cleanup(srv.Close)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	kc := kafka.DefaultConfig()
	kc.Brokers = cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, kc); err != nil {
		t.Fatal(err)
	}
	return pc, srv, kc, cl
}

// The probers of a location share its checks through Kafka: each check runs
// on exactly one of them, a stopped prober's checks move to the others, a
// check runs only where it is meant to, and apply changes and deletes checks.
func TestFleetSharesChecksThroughKafka(t *testing.T) {
	pc, srv, kc, cl := newFleetEnv(t)
	plan, err := Apply(context.Background(), cl, kc.ChecksTopic, fleetChecks(t, srv.URL, ""), false, false)
	if err != nil || len(plan.Created) != 6 {
		t.Fatalf("apply: %+v %v", plan, err)
	}

	start := func(location string) (*Prober, context.CancelFunc) {
		cfg := DefaultConfig()
		cfg.Kafka, cfg.Location, cfg.Source = kc, location, "kafka"
		cfg.Outbox.Dir = t.TempDir()
		cfg.Fleet.SessionTimeout = 2 * time.Second
		p, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		stop := func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("prober %s: %v", location, err)
			}
		}
		t.Cleanup(func() { cancel() })
		return p, stop
	}
	a, stopA := start("earth")
	b, stopB := start("earth")
	defer stopB()
	m, stopM := start("mars")
	defer stopM()

	all := []string{"c1", "c2", "c3", "c4", "c5"}
	waitFor(t, "earth's checks split between its two probers", func() bool {
		ra, rb := a.running(), b.running()
		union := append(append([]string{}, ra...), rb...)
		sort.Strings(union)
		return len(ra) > 0 && len(rb) > 0 && slices.Equal(union, all)
	})
	waitFor(t, "mars running its checks", func() bool {
		return slices.Equal(m.running(), []string{"c1", "c2", "c3", "c4", "c5", "mars-only"})
	})
	if pc.get("/mars") == 0 {
		waitFor(t, "the mars-only check probed", func() bool { return pc.get("/mars") > 0 })
	}

	stopA() // leaves the group: its checks move to b
	waitFor(t, "b taking over every earth check", func() bool { return slices.Equal(b.running(), all) })

	// Change c1's URL and delete c5 (prune): b restarts c1 and stops c5.
	changed := fleetChecks(t, srv.URL, "")
	changed[0].HTTP.URL = srv.URL + "/c1-v2"
	if err := changed[0].Validate(); err != nil {
		t.Fatal(err)
	}
	changed = slices.DeleteFunc(changed, func(c check.Check) bool { return c.ID == "c5" })
	plan, err = Apply(context.Background(), cl, kc.ChecksTopic, changed, true, false)
	if err != nil || fmt.Sprint(plan.Updated) != "[c1]" || fmt.Sprint(plan.Deleted) != "[c5]" || len(plan.Created) != 0 {
		t.Fatalf("second apply: %+v %v", plan, err)
	}
	waitFor(t, "c1 probing its new URL and c5 gone", func() bool {
		return pc.get("/c1-v2") >= 2 && !slices.Contains(b.running(), "c5") && !slices.Contains(m.running(), "c5")
	})
	again, err := Apply(context.Background(), cl, kc.ChecksTopic, changed, true, true)
	if err != nil || len(again.Created)+len(again.Updated)+len(again.Deleted) != 0 || len(again.Unchanged) != 5 {
		t.Fatalf("re-applying the same file must change nothing: %+v %v", again, err)
	}
}

// A prober that dies (SIGKILL: no goodbye to the group) loses its checks to
// the location's other probers once its session times out.
func TestFleetTakesOverACrashedProber(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a prober process; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "prober")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/prober").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	pc, srv, kc, cl := newFleetEnv(t)
	if _, err := Apply(context.Background(), cl, kc.ChecksTopic, fleetChecks(t, srv.URL, ""), false, false); err != nil {
		t.Fatal(err)
	}
	// The other prober, in a process of its own.
	other := exec.Command(bin, "--set", "source=kafka", "--set", "location=earth", "--set", "kafka.brokers="+kc.Brokers[0],
		"--set", "fleet.session_timeout=2s", "--set", "fleet.rebalance_timeout=2s", "--set", "outbox.dir="+t.TempDir(), "--set", "admin.addr=127.0.0.1:0")
	other.Stderr = io.Discard
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()

	cfg := DefaultConfig()
	cfg.Kafka, cfg.Location, cfg.Source = kc, "earth", "kafka"
	cfg.Outbox.Dir = t.TempDir()
	cfg.Fleet.SessionTimeout, cfg.Fleet.RebalanceTimeout = 2*time.Second, 2*time.Second
	b, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)

	all := []string{"c1", "c2", "c3", "c4", "c5"}
	var theirs []string
	waitFor(t, "the two probers sharing the checks", func() bool {
		mine := b.running()
		theirs = theirs[:0]
		for _, id := range all {
			if !slices.Contains(mine, id) {
				theirs = append(theirs, id)
			}
		}
		if len(mine) == 0 || len(theirs) == 0 {
			return false
		}
		for _, id := range theirs {
			if pc.get("/"+id) == 0 { // being probed by the other process
				return false
			}
		}
		return true
	})
	if err := other.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	other.Wait()
	killed := time.Now()
	waitFor(t, "b running every check after the crash", func() bool { return slices.Equal(b.running(), all) })
	before := map[string]int{}
	for _, id := range theirs {
		before[id] = pc.get("/" + id)
	}
	waitFor(t, "the crashed prober's checks probed again", func() bool {
		for _, id := range theirs {
			if pc.get("/"+id) < before[id]+2 {
				return false
			}
		}
		return true
	})
	t.Logf("%v moved %s after the crash", theirs, time.Since(killed).Round(100*time.Millisecond))
}
