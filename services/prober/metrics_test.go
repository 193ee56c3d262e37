package prober

import (
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/probe"
)

// Every run counts in picket_prober_runs_total by its failure reason; a run
// that ran observes its duration by result, and each phase it had, for the
// prober's location; a run not run (overload) observes no duration; and a
// phase never seen has no series. The series a check uses are looked up once
// and reused (checkMetrics), which must count exactly as looking them up per
// run did.
func TestEmitCountsRunsDurationsAndPhases(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Location = "eu-1"
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"} // never reached: nothing is sent here
	cfg.Outbox.Dir = t.TempDir()
	reg := prometheus.NewRegistry()
	p, err := NewWithChecks(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.client.Close()
	defer p.outbox.Close()
	c := check.Check{ID: "shop", Interval: time.Minute}
	cm := &checkMetrics{}
	tick := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ok := probe.Result{Start: tick, Duration: 30 * time.Millisecond, HTTPStatus: 200, Success: true,
		Phases: probe.Phases{Connect: time.Millisecond, Processing: 20 * time.Millisecond, Transfer: time.Millisecond}}
	p.emit(c, cm, tick, ok, 1)
	p.emit(c, cm, tick.Add(time.Minute), ok, 1)
	p.emit(c, cm, tick.Add(2*time.Minute), probe.Result{Start: tick, Duration: 2 * time.Millisecond,
		Class: eventsv1.FailureClass_FAILURE_CLASS_CONNECT, Message: "refused", Phases: probe.Phases{Connect: 2 * time.Millisecond}}, 3)
	p.emit(c, cm, tick.Add(3*time.Minute), notRun(tick, "not run"), 0)
	other := &checkMetrics{}
	p.emit(check.Check{ID: "blog", Interval: time.Minute}, other, tick, ok, 1)

	got := gathered(t, reg)
	want := []string{
		`picket_prober_phase_duration_seconds{location=eu-1,phase=connect} count 4`,
		`picket_prober_phase_duration_seconds{location=eu-1,phase=processing} count 3`,
		`picket_prober_phase_duration_seconds{location=eu-1,phase=transfer} count 3`,
		`picket_prober_run_duration_seconds{check=blog,location=eu-1,result=success} count 1`,
		`picket_prober_run_duration_seconds{check=shop,location=eu-1,result=failure} count 1`,
		`picket_prober_run_duration_seconds{check=shop,location=eu-1,result=success} count 2`,
		`picket_prober_runs_total{check=blog,reason=none} 1`,
		`picket_prober_runs_total{check=shop,reason=connect} 1`,
		`picket_prober_runs_total{check=shop,reason=none} 2`,
		`picket_prober_runs_total{check=shop,reason=overload} 1`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st := p.outbox.Stats(); st.Memory != 5 {
		t.Errorf("%d results queued, want one per run (5)", st.Memory)
	}
}

// gathered renders the runs, duration and phase series of reg, sorted.
func gathered(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		switch mf.GetName() {
		case "picket_prober_runs_total", "picket_prober_run_duration_seconds", "picket_prober_phase_duration_seconds":
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			s := mf.GetName() + "{" + strings.Join(labels, ",") + "} "
			if h := m.GetHistogram(); h != nil {
				s += "count " + fmtUint(h.GetSampleCount())
			} else {
				s += fmtUint(uint64(m.GetCounter().GetValue()))
			}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func fmtUint(v uint64) string { return strconv.FormatUint(v, 10) }
