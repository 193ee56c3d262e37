package prober

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/services/prober/check"
)

// cpuTargetEnv makes the test binary, re-executed by
// BenchmarkCPUPerProbeAt1000PerSecond, serve the probes' target and the Kafka
// broker instead of running tests: their CPU is then not in the measured
// process.
const cpuTargetEnv = "PICKET_PROBER_CPU_TARGET"

// TestCPUTarget is the target process of BenchmarkCPUPerProbeAt1000PerSecond;
// without cpuTargetEnv it does nothing. It serves an empty 200 and a kfake
// broker, prints their addresses, and exits when its stdin closes.
func TestCPUTarget(t *testing.T) {
	if os.Getenv(cpuTargetEnv) == "" {
		t.Skip("the target process of BenchmarkCPUPerProbeAt1000PerSecond")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	fmt.Printf("target %s kafka %s\n", srv.URL, cluster.ListenAddrs()[0])
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes the pipe
}

// cpuUse is CPU time spent and garbage collections run; heap is the live
// heap at the start (cpuTime runs right after a runtime.GC).
type cpuUse struct {
	user, sys time.Duration
	gcs       uint32
	heap      uint64
}

func (c cpuUse) sub(d cpuUse) cpuUse {
	return cpuUse{c.user - d.user, c.sys - d.sys, c.gcs - d.gcs, d.heap}
}

// cpuPer returns user+system and user-only µs per one of n, and what
// b.ReportMetric shows of the garbage collector under prefix.
func cpuPer(b *testing.B, prefix string, c cpuUse, n int) (total, user float64) {
	b.ReportMetric(float64(c.gcs)*1000/float64(n), prefix+"_gc/1000probes")
	b.ReportMetric(float64(c.heap)/(1<<20), prefix+"_live_MB")
	return float64((c.user + c.sys).Microseconds()) / float64(n), float64(c.user.Microseconds()) / float64(n)
}

// cpuTime is the process's CPU time so far (every thread).
func cpuTime(b *testing.B) cpuUse {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return cpuUse{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ms.NumGC, ms.HeapAlloc}
}

// BenchmarkCPUPerProbeAt1000PerSecond measures, on one core
// (GOMAXPROCS=1), the CPU the prober spends per probe at 1,000 probes/s
// (10,000 HTTP checks every 10 s, a fresh connection per probe, every result
// produced to Kafka) next to a bare net/http loop issuing the same GET at the
// same rate (a 1 ms ticker, a fresh connection per request) in the same
// process. The target server and the broker run in a child process, so only
// the client side is measured (the kernel's loopback work for a connection is
// charged partly to this process, the same for both sides). It reports
// bare_us/probe and prober_us/probe (user + system), their ratio, and the
// user-space part of each. Run with -benchtime 1x; CPU_BENCH_SECONDS sets the measured
// window of each side (default 10 s).
func BenchmarkCPUPerProbeAt1000PerSecond(b *testing.B) {
	const n, interval = 10000, 10 * time.Second
	window := 10 * time.Second
	if s, err := strconv.Atoi(os.Getenv("CPU_BENCH_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	target, broker := startCPUTarget(b)
	checks := make([]check.Check, n)
	for i := range checks {
		checks[i] = check.Check{ID: fmt.Sprintf("check-%05d", i), Interval: interval, Timeout: 5 * time.Second,
			HTTP: &check.HTTP{Method: "GET", URL: target + "/" + strconv.Itoa(i), ExpectedStatus: []int{200}}}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for b.Loop() {
		// Labelled so a -cpuprofile splits them: -tagfocus side=prober.
		var bare, bareUser, prober, proberUser float64
		pprof.Do(context.Background(), pprof.Labels("side", "bare"), func(context.Context) {
			cpu, n := bareLoopCPU(b, target, window)
			bare, bareUser = cpuPer(b, "bare", cpu, n)
		})
		pprof.Do(context.Background(), pprof.Labels("side", "prober"), func(context.Context) {
			cpu, n := proberCPU(b, checks, broker, window)
			prober, proberUser = cpuPer(b, "prober", cpu, n)
		})
		b.ReportMetric(bare, "bare_us/probe")
		b.ReportMetric(prober, "prober_us/probe")
		b.ReportMetric(prober/bare, "prober/bare")
		b.ReportMetric(bareUser, "bare_user_us/probe")
		b.ReportMetric(proberUser, "prober_user_us/probe")
	}
}

// startCPUTarget re-executes the test binary as TestCPUTarget and returns its
// HTTP URL and broker address; it stops when the benchmark ends.
func startCPUTarget(b *testing.B) (target, broker string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUTarget$", "-test.count=1")
	cmd.Env = append(os.Environ(), cpuTargetEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "target %s kafka %s", &target, &broker); err == nil {
			go io.Copy(io.Discard, stdout)
			return target, broker
		}
	}
	b.Fatalf("the target process printed no addresses: %v", sc.Err())
	return "", ""
}

// bareLoopCPU issues GET target/i at 1,000/s for window with a plain
// net/http client (fresh connection per request) and returns the process's
// CPU µs per request.
func bareLoopCPU(b *testing.B, target string, window time.Duration) (cpuUse, int) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	var failed atomic.Int64
	get := func(i int) {
		defer wg.Done()
		resp, err := client.Get(target + "/" + strconv.Itoa(i))
		if err != nil {
			failed.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed.Add(1)
		}
	}
	// One second of warm-up, then the measured window. A tick the loop
	// missed (the ticker drops them when the loop is behind) still gets its
	// request: requests due = milliseconds elapsed.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start, issued := time.Now(), 0
	pace := func(until time.Duration) {
		for issued < int(until/time.Millisecond) {
			<-tick.C
			for due := int(time.Since(start) / time.Millisecond); issued < due; issued++ {
				wg.Add(1)
				go get(issued % 10000)
			}
		}
	}
	pace(time.Second)
	runtime.GC()
	cpu0, from := cpuTime(b), issued
	pace(time.Second + window)
	reqs := issued - from
	wg.Wait()
	cpu := cpuTime(b).sub(cpu0)
	if f := failed.Load(); f > 0 {
		b.Fatalf("bare loop: %d requests failed", f)
	}
	if rate := float64(reqs) / window.Seconds(); rate < 900 {
		b.Fatalf("bare loop: %.0f requests/s, want 1,000", rate)
	}
	return cpu, reqs
}

// proberCPU runs the prober on checks, warms up until they all started and
// ran once, then measures for window and
// returns the process's CPU µs per probe run in the window.
func proberCPU(b *testing.B, checks []check.Check, broker string, window time.Duration) (cpuUse, int) {
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Outbox.Dir = b.TempDir()
	p, err := NewWithChecks(cfg, checks, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	var runs atomic.Int64
	p.onRun = func(string, time.Time, time.Duration) { runs.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Warm-up: topics created, every check started (starting 10,000 checks
	// is a cost of its own, not a probe's), then one interval, so every
	// check ran once (its first run creates its metric series).
	poll.True(b, time.Minute, "every check started", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.runners) == len(checks)
	})
	time.Sleep(checks[0].Interval) // every check's first run
	runtime.GC()
	cpu0, runs0 := cpuTime(b), runs.Load()
	time.Sleep(window) // the measured window
	cpu, probes := cpuTime(b).sub(cpu0), int(runs.Load()-runs0)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if rate := float64(probes) / window.Seconds(); rate < 900 {
		b.Fatalf("prober: %.0f probes/s, want 1,000", rate)
	}
	fails, err := failedRuns(p)
	if err != nil {
		b.Fatal(err)
	}
	if fails > 0 {
		b.Fatalf("prober: %.0f runs failed", fails)
	}
	if produced := testutil.ToFloat64(p.metrics.produced); produced < float64(probes) {
		b.Fatalf("prober: %.0f results produced to Kafka, want at least the %d of the window", produced, probes)
	}
	return cpu, probes
}

// failedRuns returns how many of p's runs did not succeed.
func failedRuns(p *Prober) (float64, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(p.metrics.runs); err != nil {
		return 0, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	failed := 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && !strings.EqualFold(l.GetValue(), "none") {
					failed += m.GetCounter().GetValue()
				}
			}
		}
	}
	return failed, nil
}
