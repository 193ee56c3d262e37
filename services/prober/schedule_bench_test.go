package prober

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picket-dev/picket/services/prober/check"
)

// BenchmarkSchedule10kChecks runs 10,000 HTTP checks at a 10 s interval
// against a loopback server for two intervals (fresh connection per run,
// results produced to kfake) and reports the p99 lag between tick and start,
// the max/min runs per second over the second interval, and the process RSS
// (prober, target server and broker together: an upper bound for the prober).
// Run with -benchtime 1x.
func BenchmarkSchedule10kChecks(b *testing.B) {
	const n, interval = 10000, 10 * time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	checks := make([]check.Check, n)
	for i := range checks {
		checks[i] = check.Check{ID: fmt.Sprintf("check-%05d", i), Interval: interval, Timeout: 5 * time.Second,
			HTTP: &check.HTTP{Method: "GET", URL: srv.URL + "/" + strconv.Itoa(i), ExpectedStatus: []int{200}}}
	}
	for b.Loop() {
		cfg := DefaultConfig()
		cfg.Kafka.Brokers = cluster.ListenAddrs()
		cfg.Outbox.Dir = b.TempDir()
		p, err := NewWithChecks(cfg, checks, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var lags []time.Duration
		perSecond := map[int64]int{}
		start := time.Now()
		measureFrom := start.Add(interval)
		p.onRun = func(_ string, tick time.Time, lag time.Duration) {
			if tick.Before(measureFrom) || !tick.Before(measureFrom.Add(interval)) {
				return // the first interval warms up; the second is measured
			}
			mu.Lock()
			lags = append(lags, lag)
			perSecond[tick.Unix()]++
			mu.Unlock()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*interval+time.Second)
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		<-ctx.Done()
		rss := rssMB()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		slices.Sort(lags)
		if len(lags) < n*9/10 {
			b.Fatalf("%d runs in the measured interval, want about %d", len(lags), n)
		}
		p99 := lags[len(lags)*99/100]
		lo, hi := n, 0
		first, last := measureFrom.Unix()+1, measureFrom.Add(interval).Unix()-1 // whole seconds only
		for s := first; s <= last; s++ {
			lo, hi = min(lo, perSecond[s]), max(hi, perSecond[s])
		}
		mu.Unlock()
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99_lag_ms")
		b.ReportMetric(float64(hi)/float64(max(lo, 1)), "max/min_rps")
		b.ReportMetric(float64(len(lags))/interval.Seconds(), "runs/s")
		b.ReportMetric(rss, "rss_MB")
	}
}

func rssMB() float64 { return rssOf(os.Getpid()) }

func rssOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkProberRSS10kChecks runs the prober binary as its own process with
// 10,000 checks at a 10 s interval (against a loopback target and a kfake
// broker in this process) and reports its peak RSS over 15 s.
func BenchmarkProberRSS10kChecks(b *testing.B) {
	dir := b.TempDir()
	bin := dir + "/prober"
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/prober").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	var sb strings.Builder
	sb.WriteString("checks:\n")
	for i := range 10000 {
		fmt.Fprintf(&sb, "  - {id: check-%05d, interval: 10s, timeout: 5s, http: {url: %q}}\n", i, srv.URL+"/"+strconv.Itoa(i))
	}
	if err := os.WriteFile(dir+"/checks.yaml", []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cmd := exec.Command(bin, "--set", "checks_file="+dir+"/checks.yaml", "--set", "outbox.dir="+dir+"/spool", "--set", "kafka.brokers="+cluster.ListenAddrs()[0],
			"--set", "admin.addr=127.0.0.1:0", "--set", "log.level=warn")
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		peak := 0.0
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			peak = max(peak, rssOf(cmd.Process.Pid))
			time.Sleep(100 * time.Millisecond) // sampling interval
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("prober exited: %v", err)
		}
		b.ReportMetric(peak, "peak_rss_MB")
	}
}
