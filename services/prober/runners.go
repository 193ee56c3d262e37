package prober

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/probe"
	"github.com/picket-dev/picket/services/prober/schedule"
	"go.yaml.in/yaml/v3"
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
	r.entry = p.sched.Add(c.ID, c.Interval, func(tick time.Time, lag time.Duration) {
		p.metrics.lag.Observe(lag.Seconds())
		if p.onRun != nil {
			p.onRun(c.ID, tick, lag)
		}
		// The run is not cut short by shutdown or reload: its own timeout bounds it.
		res, attempts := probe.Confirm(context.WithoutCancel(ctx), c)
		p.emit(c, tick, res, attempts)
	})
	return r
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
	if err != nil {
		p.metrics.reloads.WithLabelValues("error").Inc()
		p.log.Error("checks not reloaded; the running checks are unchanged", "why", why, "err", err)
		return
	}
	started, restarted, stopped := p.apply(ctx, checks)
	p.metrics.reloads.WithLabelValues("success").Inc()
	p.log.Info("checks reloaded", "why", why, "checks", len(checks), "started", started, "restarted", restarted, "stopped", stopped)
}
