package prober

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	duration     *prometheus.HistogramVec
	runs         *prometheus.CounterVec
	lag          prometheus.Histogram
	produceError prometheus.Counter
	produced     prometheus.Counter
	reloads      *prometheus.CounterVec
	dropped      prometheus.Counter
	phases       *prometheus.HistogramVec
	skipped      *prometheus.CounterVec
	spoolErrors  prometheus.Counter
	// phase are the location's phase histograms, in phaseNames' order,
	// looked up once (on first use, so a phase never seen shows no series).
	phase [len(phaseNames)]func() prometheus.Observer
}

// phaseNames label picket_prober_phase_duration_seconds.
var phaseNames = [...]string{"dns", "connect", "tls", "processing", "transfer"}

// checkMetrics are one check's series, looked up on their first use instead
// of by label values on every run. Only the check's runs use it, one at a
// time (the scheduler never overlaps them), so it needs no lock.
type checkMetrics struct {
	runsOK         prometheus.Counter
	durOK, durFail prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, location string) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_prober_run_duration_seconds",
			Help:    "Total duration of check runs.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"check", "location", "result"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_prober_runs_total",
			Help: "Check runs by check and failure reason (none on success).",
		}, []string{"check", "reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "picket_prober_schedule_lag_seconds",
			Help:    "Delay between a run's scheduled tick and its actual start.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		produceError: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_prober_produce_errors_total",
			Help: "Produce attempts of a batch of results that Kafka did not accept (the batch is retried).",
		}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_prober_results_produced_total",
			Help: "Results Kafka acknowledged.",
		}),
	}
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "picket_prober_reloads_total",
		Help: "Reloads of the checks file, by result (success, error).",
	}, []string{"result"})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "picket_prober_results_dropped_total",
		Help: "Results lost because the spool reached its size limit or the disk failed.",
	})
	m.phases = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "picket_prober_phase_duration_seconds",
		Help:    "Duration of each phase of the runs that had it (dns, connect, tls, processing, transfer).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"location", "phase"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "picket_prober_runs_skipped_total",
		Help: "Runs not run, or not finished, by the prober's own fault, by reason: late (the tick passed by more than max_start_delay), busy (no run slot free within max_start_delay), shutdown. Each is reported with failure class overload, never as the target's failure.",
	}, []string{"reason"})
	m.spoolErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "picket_prober_outbox_errors_total",
		Help: "Failed reads or removals of spool segments (retried; a damaged segment is set aside and its results counted as dropped).",
	})
	for i, name := range phaseNames {
		m.phase[i] = sync.OnceValue(func() prometheus.Observer { return m.phases.WithLabelValues(location, name) })
	}
	for _, r := range []string{skipLate, skipBusy, skipShutdown} {
		m.skipped.WithLabelValues(r)
	}
	reg.MustRegister(m.duration, m.runs, m.lag, m.produceError, m.produced, m.reloads, m.dropped, m.phases, m.skipped, m.spoolErrors)
	return m
}

// registerGauges registers the gauges read from the prober's state.
func registerGauges(reg prometheus.Registerer, p *Prober) {
	ob := p.outbox
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_outbox_memory_results", Help: "Results queued in memory."},
			func() float64 { return float64(ob.Stats().Memory) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_outbox_spooled_results", Help: "Results spooled on disk."},
			func() float64 { return float64(ob.Stats().Spooled) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_outbox_spool_bytes", Help: "Size of the spool."},
			func() float64 { return float64(ob.Stats().SpoolBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "picket_prober_outbox_stalled_seconds",
			Help: "How long the oldest queued result has been waiting for Kafka (a send in progress or retried, or a failing spool read); 0 when nothing waits.",
		}, func() float64 {
			if since, _ := ob.Stalled(); !since.IsZero() {
				return time.Since(since).Seconds()
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_runs_in_flight", Help: "Runs in progress (at most max_concurrency)."},
			func() float64 { return float64(len(p.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "picket_prober_max_concurrency", Help: "The effective max_concurrency."},
			func() float64 { return float64(cap(p.slots)) }),
	)
}
