package prober

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/probe"
	"github.com/picket-dev/picket/services/prober/schedule"
)

// runner is one scheduled check.
type runner struct {
	check       check.Check
	fingerprint string
	entry       *schedule.Entry
}

// fingerprint identifies a check definition: a reload restarts a check only
// when it changes.
func fingerprint(c check.Check) string {
	b, err := yaml.Marshal(c)
	if err != nil { // a loaded check always marshals; never treat it as unchanged
		return fmt.Sprintf("unmarshalable %p", &c)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// apply makes the running checks match checks: new ones start, changed ones
// restart (after their run in progress), removed ones stop; the rest are
// untouched. It returns how many were started, restarted and stopped.
func (p *Prober) apply(ctx context.Context, checks []check.Check) (started, restarted, stopped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]check.Check{}
	for _, c := range checks {
		want[c.ID] = c
	}
	for id, r := range p.runners {
		c, keep := want[id]
		if keep && fingerprint(c) == r.fingerprint {
			continue
		}
		<-p.sched.Remove(r.entry)
		delete(p.runners, id)
		if keep {
			restarted++
		} else {
			stopped++
		}
	}
	for _, c := range checks {
		if _, running := p.runners[c.ID]; running {
			continue
		}
		p.runners[c.ID] = p.start(ctx, c)
		started++
	}
	started -= restarted
	return started, restarted, stopped
}

func (p *Prober) start(ctx context.Context, c check.Check) *runner {
	// Compile where the check runs: a definition names its secrets and CA
	// files, and this prober reads them. A check that cannot compile here
	// still runs, each run failing as internal with the reason (probe.Run).
	if err := c.Compile(); err != nil {
		p.log.Error("check cannot run on this prober: each run fails as internal", "check", c.ID, "err", err)
	}
	r := &runner{check: c, fingerprint: fingerprint(c)}
	cm := &checkMetrics{}
	r.entry = p.sched.Add(c.ID, c.Interval, func(tick time.Time, lag time.Duration) {
		p.metrics.lag.Observe(lag.Seconds())
		if p.onRun != nil {
			p.onRun(c.ID, tick, lag)
		}
		p.run(ctx, c, cm, tick, lag)
	})
	return r
}

// Reasons a run is skipped (picket_prober_runs_skipped_total).
const (
	skipLate     = "late"
	skipBusy     = "busy"
	skipShutdown = "shutdown"
)

// run runs one tick of c and emits its result; every tick emits exactly one.
// A run that cannot start within cfg.MaxStartDelay of its tick, because the
// prober is behind or all cfg.MaxConcurrency slots stay busy, is not run: a
// run started late competes with the ones that are on time, and its timeout
// would measure the prober, not the target. It is reported with failure
// class OVERLOAD, which nothing counts against the target. ctx ends at
// shutdown: retries stop then, and p.runCtx cuts the attempt in progress
// after the grace.
func (p *Prober) run(ctx context.Context, c check.Check, cm *checkMetrics, tick time.Time, lag time.Duration) {
	maxDelay := p.cfg.MaxStartDelay
	if lag > maxDelay {
		p.skip(c, cm, tick, skipLate, fmt.Sprintf("not run: the prober is overloaded; it got to this run %s after its tick (max_start_delay %s)",
			lag.Round(time.Millisecond), maxDelay))
		return
	}
	select {
	case p.slots <- struct{}{}:
	default:
		wait := time.NewTimer(maxDelay - lag)
		select {
		case p.slots <- struct{}{}:
			wait.Stop()
		case <-wait.C:
			p.skip(c, cm, tick, skipBusy, fmt.Sprintf("not run: the prober is overloaded; all %d run slots (max_concurrency) stayed busy for max_start_delay %s",
				cap(p.slots), maxDelay))
			return
		case <-ctx.Done():
			wait.Stop()
			p.skip(c, cm, tick, skipShutdown, "not run: the prober was shutting down")
			return
		}
	}
	defer func() { <-p.slots }()
	res, attempts := probe.Confirm(p.runCtx, ctx, c)
	switch {
	case res.Success:
	case p.runCtx.Err() != nil:
		p.metrics.skipped.WithLabelValues(skipShutdown).Inc()
		res = notRun(res.Start, fmt.Sprintf("not finished: the prober's shutdown cut attempt %d after shutdown_grace %s; this says nothing about the target (the attempt saw: %s)",
			attempts, p.cfg.ShutdownGrace, res.Message))
	case attempts <= c.Retries:
		p.metrics.skipped.WithLabelValues(skipShutdown).Inc()
		res = notRun(res.Start, fmt.Sprintf("not confirmed: the prober shut down before retry %d of %d (attempt %d: %s)",
			attempts, c.Retries, attempts, res.Message))
	}
	p.emit(c, cm, tick, res, attempts)
}

// skip emits the result of a run that was not run.
func (p *Prober) skip(c check.Check, cm *checkMetrics, tick time.Time, reason, msg string) {
	p.metrics.skipped.WithLabelValues(reason).Inc()
	n := p.skippedN.Add(1)
	if reason != skipShutdown {
		p.lastOverload.Store(time.Now().UnixNano())
		if p.overloadLog.Allow() {
			p.log.Error("runs skipped: the prober cannot run its checks on time; lower the load, raise max_concurrency or add probers",
				"check", c.ID, "reason", reason, "skipped_since_start", n)
		}
	}
	p.emit(c, cm, tick, notRun(time.Now(), msg), 0)
}

// stopAll stops every check and waits for the runs in progress.
func (p *Prober) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var wait []<-chan struct{}
	for id, r := range p.runners {
		wait = append(wait, p.sched.Remove(r.entry))
		delete(p.runners, id)
	}
	for _, done := range wait {
		<-done
	}
}

// fileState is what the reloader compares to notice a changed checks file.
type fileState struct {
	size    int64
	modTime time.Time
}

func statFile(path string) (fileState, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	return fileState{size: st.Size(), modTime: st.ModTime()}, nil
}

// reload reads the checks file again and applies it. An invalid file changes
// nothing: the checks keep running as they were.
func (p *Prober) reload(ctx context.Context, why string) {
	checks, err := check.Load(p.cfg.ChecksFile)
	if err == nil && len(checks) == 0 {
		// An editor or a config tool that truncates before writing leaves
		// an empty file for a moment, which would read as "no checks" and
		// stop them all: only an explicit `checks: []` removes every check.
		if st, serr := os.Stat(p.cfg.ChecksFile); serr == nil && st.Size() == 0 {
			err = fmt.Errorf("%s is empty (caught while being written?): write `checks: []` to remove every check", p.cfg.ChecksFile)
		}
	}
	if err != nil {
		p.metrics.reloads.WithLabelValues("error").Inc()
		p.log.Error("checks not reloaded; the running checks are unchanged", "why", why, "err", err)
		return
	}
	started, restarted, stopped := p.apply(ctx, checks)
	p.metrics.reloads.WithLabelValues("success").Inc()
	p.log.Info("checks reloaded", "why", why, "checks", len(checks), "started", started, "restarted", restarted, "stopped", stopped)
}
