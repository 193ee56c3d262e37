package prober

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
)

// pathCounter counts requests per path.
type pathCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (pc *pathCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pc.mu.Lock()
	pc.n[r.URL.Path]++
	pc.mu.Unlock()
}

func (pc *pathCounter) get(path string) int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.n[path]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.True(t, 30*time.Second, what, cond)
}

func checksYAML(base string, ids ...string) string {
	s := "checks:\n"
	for _, id := range ids {
		s += fmt.Sprintf("  - {id: %s, interval: 20ms, timeout: 15ms, http: {url: %q}}\n", id[:1], base+"/"+id)
	}
	return s
}

func startFileProber(t *testing.T, reloadEvery time.Duration, content string) (*Prober, string) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	file := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Outbox.Dir = t.TempDir()
	cfg.ChecksFile = file
	cfg.ReloadInterval = reloadEvery
	p, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return p, file
}

func (p *Prober) runner(id string) *runner {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runners[id]
}

// A changed file adds, changes and removes checks; an unchanged check keeps
// running untouched; an invalid file changes nothing.
func TestReloadOnFileChange(t *testing.T) {
	pc := &pathCounter{n: map[string]int{}}
	srv := httptest.NewServer(pc)
	defer srv.Close()
	p, file := startFileProber(t, 10*time.Millisecond, checksYAML(srv.URL, "a", "b", "c"))
	waitFor(t, "a, b and c running", func() bool { return pc.get("/a") >= 3 && pc.get("/b") >= 3 && pc.get("/c") >= 3 })
	a := p.runner("a")

	// a unchanged, b now probes /b2, c removed, d added.
	next := checksYAML(srv.URL, "a", "b2", "d")
	if err := os.WriteFile(file, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "d and the changed b running", func() bool { return pc.get("/d") >= 3 && pc.get("/b2") >= 3 })
	if p.runner("a") != a {
		t.Fatal("the unchanged check a was restarted")
	}
	cAfter, bAfter := pc.get("/c"), pc.get("/b")
	dNow := pc.get("/d")
	waitFor(t, "three more runs of d", func() bool { return pc.get("/d") >= dNow+3 })
	if pc.get("/c") != cAfter || pc.get("/b") != bAfter {
		t.Fatalf("removed or replaced checks still run: /c %d→%d, /b %d→%d", cAfter, pc.get("/c"), bAfter, pc.get("/b"))
	}

	// An invalid file is refused: everything keeps running as it was.
	if err := os.WriteFile(file, []byte("checks:\n  - {id: a, interval: 20ms, timeout: 1s, http: {url: \"x\"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload error", func() bool { return testutil.ToFloat64(p.metrics.reloads.WithLabelValues("error")) >= 1 })
	if p.runner("a") != a || p.runner("d") == nil {
		t.Fatal("an invalid file changed the running checks")
	}
}

// A file caught empty (truncated before being written) stops nothing; an
// explicit empty list does.
func TestReloadOfAnEmptyFileStopsNothing(t *testing.T) {
	pc := &pathCounter{n: map[string]int{}}
	srv := httptest.NewServer(pc)
	defer srv.Close()
	p, file := startFileProber(t, 10*time.Millisecond, checksYAML(srv.URL, "a"))
	waitFor(t, "a running", func() bool { return pc.get("/a") >= 2 })
	a := p.runner("a")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload error", func() bool { return testutil.ToFloat64(p.metrics.reloads.WithLabelValues("error")) >= 1 })
	if p.runner("a") != a {
		t.Fatal("an empty file stopped the running checks")
	}
	if err := os.WriteFile(file, []byte("checks: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a stopped by checks: []", func() bool { return p.runner("a") == nil })
}

func TestReloadOnSIGHUP(t *testing.T) {
	pc := &pathCounter{n: map[string]int{}}
	srv := httptest.NewServer(pc)
	defer srv.Close()
	p, file := startFileProber(t, time.Hour, checksYAML(srv.URL, "a"))
	waitFor(t, "a running", func() bool { return pc.get("/a") >= 2 })
	if err := os.WriteFile(file, []byte(checksYAML(srv.URL, "a", "e")), 0o644); err != nil {
		t.Fatal(err)
	}
	<-p.watching
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "e running after SIGHUP", func() bool { return pc.get("/e") >= 2 })
}
