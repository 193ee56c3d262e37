package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/picket-dev/picket/platform/store"
)

// The figures a series can chart.
var seriesFigures = []string{"availability", "p50", "p95", "p99", "avg_ms", "ttfb_ms", "runs"}

// maxSeriesPoints bounds a series' buckets: two days of minutes.
const maxSeriesPoints = 2880

// autoStep is the step a window is charted at when none is given: about
// 300 to 1,500 points up to 30 days, daily beyond.
func autoStep(window time.Duration) time.Duration {
	switch {
	case window <= 6*time.Hour:
		return time.Minute
	case window <= 24*time.Hour:
		return 5 * time.Minute
	case window <= 30*24*time.Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// PointJSON is one bucket of a series: the figure (null without a run) and
// the runs it covers; for the latency figures, the same figure of each phase
// over the runs in which it happened (avg_ms: each phase's mean share).
type PointJSON struct {
	T      time.Time   `json:"t"`
	Value  *float64    `json:"value"`
	Runs   uint64      `json:"runs"`
	Phases *PhasesJSON `json:"phases_ms,omitempty"`
}

// SeriesJSON is the body of GET /api/v1/checks/{id}/series.
type SeriesJSON struct {
	CheckID     string      `json:"check_id"`
	Location    string      `json:"location,omitempty"`
	Figure      string      `json:"figure"`
	Unit        string      `json:"unit"`
	From        time.Time   `json:"from"`
	To          time.Time   `json:"to"`
	StepSeconds float64     `json:"step_seconds"`
	Points      []PointJSON `json:"points"`
}

func (a *API) series(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := chi.URLParam(r, "checkID")
	figure := q.Get("figure")
	if figure == "" {
		figure = "availability"
	}
	if err := oneOf("figure", []string{figure}, seriesFigures...); err != nil {
		badParam(w, "figure", err.Error())
		return
	}
	from, to, param, err := timeRange(q, a.now(), 24*time.Hour)
	if err != nil {
		badParam(w, param, err.Error())
		return
	}
	step := autoStep(to.Sub(from))
	if s := q.Get("step"); s != "" {
		if step, err = parseWindow(s); err != nil || step%time.Minute != 0 {
			badParam(w, "step", fmt.Sprintf("step %q: want a whole number of minutes, like 1m, 5m, 1h or 1d", s))
			return
		}
	}
	start := from.UTC().Truncate(step)
	if n := int(to.Sub(start)/step) + 1; n > maxSeriesPoints {
		badParam(w, "step", fmt.Sprintf("step %s gives %d points over %s; at most %d: take a longer step",
			step, n, to.Sub(from), maxSeriesPoints))
		return
	}
	sq := store.SeriesQuery{CheckID: id, Location: q.Get("location"), From: from, To: to, Step: step}
	pts, err := a.store.Series(r.Context(), sq)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if len(pts) == 0 && !a.knownCheck(w, r, id) {
		return
	}
	out := SeriesJSON{CheckID: id, Location: sq.Location, Figure: figure, Unit: seriesUnit(figure),
		From: from.UTC(), To: to.UTC(), StepSeconds: step.Seconds(), Points: []PointJSON{}}
	next := 0
	for t := start; t.Before(to); t = t.Add(step) {
		p := PointJSON{T: t}
		if next < len(pts) && pts[next].At.Equal(t) {
			p = seriesPoint(figure, pts[next])
			next++
		}
		out.Points = append(out.Points, p)
	}
	writeJSON(w, out)
}

func seriesUnit(figure string) string {
	switch figure {
	case "availability":
		return "ratio"
	case "runs":
		return "runs"
	}
	return "ms"
}

func seriesPoint(figure string, p store.SeriesPoint) PointJSON {
	st := p.Summary()
	out := PointJSON{T: p.At, Runs: st.Samples}
	if st.Samples == 0 {
		if figure == "runs" {
			v := 0.0
			out.Value = &v
		}
		return out
	}
	ph := st.Phases
	pick := func(f func(store.Percentiles) float64) (float64, *PhasesJSON) {
		return f(st.Response), &PhasesJSON{DNS: f(ph.DNS.Percentiles), Connect: f(ph.Connect.Percentiles),
			TLS: f(ph.TLS.Percentiles), Processing: f(ph.Processing.Percentiles), Transfer: f(ph.Transfer.Percentiles)}
	}
	var v float64
	switch figure {
	case "availability":
		v = st.Availability
	case "runs":
		v = float64(st.Samples)
	case "ttfb_ms":
		v = st.AvgTTFBMS
	case "avg_ms":
		v = st.AvgResponseMS
		out.Phases = &PhasesJSON{DNS: st.AvgDNSMS, Connect: st.AvgConnectMS, TLS: st.AvgTLSMS,
			Processing: st.AvgProcessingMS, Transfer: st.AvgTransferMS}
	case "p50":
		v, out.Phases = pick(func(p store.Percentiles) float64 { return p.P50 })
	case "p95":
		v, out.Phases = pick(func(p store.Percentiles) float64 { return p.P95 })
	case "p99":
		v, out.Phases = pick(func(p store.Percentiles) float64 { return p.P99 })
	}
	out.Value = &v
	return out
}
