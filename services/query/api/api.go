// Package api is Picket's HTTP query API and dashboard. It only reads: every
// answer comes from ClickHouse through the store, and nothing here writes.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/picket-dev/picket/platform/store"
)

// API serves the query endpoints.
type API struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	// clock times the catalog cache (catalogs), apart from now, which tests fix.
	clock    func() time.Time
	catalogs *catalogCache
	// timeout bounds each request's store calls.
	timeout time.Duration
	// slos are the SLOs served (SetSLOs), with their defaults filled in.
	slos []slo
	// storeFailures counts the requests the store failed, by reason.
	storeFailures *prometheus.CounterVec
	// defs, when set, are the checks' definitions (SetDefinitions).
	defs Definitions
	// statusPages are the public status pages, by slug.
	statusPages map[string]StatusPage
	// noReadAhead turns the overview's read-ahead off (readAhead), for a
	// benchmark to measure what it buys.
	noReadAhead bool
}

// DefaultRequestTimeout bounds a request's store calls unless configured.
const DefaultRequestTimeout = 10 * time.Second

// New returns the API over st. requestTimeout bounds each request's store
// calls (0: DefaultRequestTimeout); a request that reaches it is answered
// 504, never left hanging.
func New(st *store.Store, log *slog.Logger, requestTimeout time.Duration) *API {
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	return &API{store: st, log: log, now: time.Now, clock: time.Now, catalogs: &catalogCache{}, timeout: requestTimeout,
		storeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_query_store_failures_total",
			Help: "Requests answered 504 (reason timeout: the store did not answer within request_timeout) or 503 (reason error).",
		}, []string{"reason"}),
	}
}

// Register adds the API's metrics to reg.
func (a *API) Register(reg prometheus.Registerer) error {
	if err := reg.Register(a.storeFailures); err != nil {
		return fmt.Errorf("query metrics: %w", err)
	}
	return nil
}

// Handler is the API's router.
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/", servePage)
	r.With(checkIDGiven).Get("/checks/{checkID}", servePage)
	r.Get("/assets/{file}", serveAsset)
	r.Group(a.publicRoutes)
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(a.deadline)
		r.Get("/openapi.json", serveOpenAPI)
		r.Get("/overview", a.overview)
		r.Get("/checks", a.checks)
		oneCheck := r.With(checkIDGiven)
		oneCheck.Get("/checks/{checkID}", a.check)
		oneCheck.Get("/checks/{checkID}/stats", a.stats)
		oneCheck.Get("/checks/{checkID}/results", a.results)
		oneCheck.Get("/checks/{checkID}/series", a.series)
		r.Get("/alerts", a.alerts)
		r.Get("/alerts/open", a.openAlerts)
		r.Get("/alerts/{eventID}/deliveries", a.deliveries)
		r.Get("/slos", a.listSLOs)
		r.Get("/slos/{name}", a.oneSLO)
		oneCheck.Get("/checks/{checkID}/slos", a.checkSLOs)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Status: http.StatusNotFound, Detail: "no route for " + r.URL.Path})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed on " + r.URL.Path})
	})
	return r
}

// publicRoutes are the read-only routes meant for anyone: the status pages
// (HTML and JSON) and the badges. They name only what the status pages'
// configuration and the check ids a badge URL gives select.
func (a *API) publicRoutes(r chi.Router) {
	r.Use(a.deadline)
	r.Get("/status/{slug}", a.statusHTML)
	r.Get("/api/v1/status/{slug}", a.statusJSON)
	badge := r.With(checkIDGiven)
	badge.Get("/badge/{checkID}/state.svg", a.stateBadge)
	badge.Get("/badge/{checkID}/uptime.svg", a.uptimeBadge)
	badge.Get("/badge/{checkID}/response-time.svg", a.responseTimeBadge)
}

// deadline gives the request's store calls the API's timeout.
func (a *API) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// internal answers a store call that failed: 504 when it ran out of the
// request's time, 503 otherwise.
func (a *API) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		a.storeFailures.WithLabelValues("timeout").Inc()
		a.log.Error("query timed out", "path", r.URL.Path, "request_timeout", a.timeout, "err", err)
		writeProblem(w, Problem{Status: http.StatusGatewayTimeout, Title: "Store timeout",
			Detail: fmt.Sprintf("the stats store did not answer within %s (request_timeout); try a shorter range, or again later", a.timeout)})
		return
	}
	a.storeFailures.WithLabelValues("error").Inc()
	a.log.Error("query failed", "path", r.URL.Path, "err", err)
	writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Detail: "the stats store did not answer; try again"})
}

// MinMax is an average and a maximum, in milliseconds.
type MinMax struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
}

// Latency is an average, a maximum and percentiles, in milliseconds. Each
// percentile is within 1 % of the exact value at 0-based rank floor(q·(n−1))
// of the n sorted times (a DDSketch's bound).
type Latency struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// StatsJSON is the body of GET /api/v1/checks/{id}/stats.
type StatsJSON struct {
	CheckID  string    `json:"check_id"`
	Location string    `json:"location,omitempty"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Samples  uint64    `json:"samples"`
	// Skipped counts the runs the prober skipped for its own overload
	// (FAILURE_CLASS_OVERLOAD): they say nothing about the target and no
	// other figure counts them.
	Skipped        uint64            `json:"skipped"`
	Successes      uint64            `json:"successes"`
	Availability   float64           `json:"availability"`
	ResponseTimeMS Latency           `json:"response_time_ms"`
	TTFBMS         MinMax            `json:"ttfb_ms"`
	StatusCodes    map[string]uint64 `json:"status_codes"`
	// FailureClasses counts the failed runs by class.
	FailureClasses map[string]uint64 `json:"failure_classes"`
	// PhasesMS are each phase's average over every run, a run without the
	// phase counting 0: its mean share of the response time.
	PhasesMS PhasesJSON `json:"phases_ms"`
	// PhaseTimingsMS describe each phase over the runs in which it happened.
	PhaseTimingsMS PhaseTimingsJSON `json:"phase_timings_ms"`
	// DetailSamples counts the samples the percentiles and phase figures
	// cover: all of them, unless the range reaches back before the rollups
	// had phases (migration 0009).
	DetailSamples uint64 `json:"detail_samples"`
	// ByLocation are the same figures per location (by=location), by name.
	ByLocation []StatsJSON `json:"by_location,omitempty"`
}

// PhasesJSON are average phase times.
type PhasesJSON struct {
	DNS        float64 `json:"dns"`
	Connect    float64 `json:"connect"`
	TLS        float64 `json:"tls"`
	Processing float64 `json:"processing"`
	Transfer   float64 `json:"transfer"`
}

// PhaseTimingsJSON are the phases' timings.
type PhaseTimingsJSON struct {
	DNS        PhaseTiming `json:"dns"`
	Connect    PhaseTiming `json:"connect"`
	TLS        PhaseTiming `json:"tls"`
	Processing PhaseTiming `json:"processing"`
	Transfer   PhaseTiming `json:"transfer"`
}

// PhaseTiming is one phase over the runs in which it happened (its time > 0:
// no DNS lookup for an IP address, no TLS over plain HTTP, nothing after a
// failed connect do not count).
type PhaseTiming struct {
	Runs uint64 `json:"runs"`
	Latency
}

func latency(avg, maximum float64, p store.Percentiles) Latency {
	return Latency{Avg: avg, Max: maximum, P50: p.P50, P90: p.P90, P95: p.P95, P99: p.P99}
}

func phaseTiming(t store.Timing) PhaseTiming {
	return PhaseTiming{Runs: t.Runs, Latency: latency(t.AvgMS, t.MaxMS, t.Percentiles)}
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, param, err := timeRange(q, a.now(), 10*time.Minute)
	if err != nil {
		badParam(w, param, err.Error())
		return
	}
	sq := store.StatsQuery{CheckID: chi.URLParam(r, "checkID"), Location: q.Get("location"), From: from, To: to}
	st, err := a.store.WindowStats(r.Context(), sq)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if st.Samples == 0 && st.Skipped == 0 { // nothing in range: is there such a check at all?
		known, err := a.store.KnownCheck(r.Context(), sq.CheckID)
		if err != nil {
			a.internal(w, r, err)
			return
		}
		if !known {
			writeProblem(w, Problem{Status: http.StatusNotFound, Title: "Unknown check",
				Detail: fmt.Sprintf("no result of check %q was ever stored", sq.CheckID)})
			return
		}
	}
	out := statsJSON(sq, st)
	if by := q.Get("by"); by == "location" {
		if out.ByLocation, err = a.statsByLocation(r.Context(), sq); err != nil {
			a.internal(w, r, err)
			return
		}
	} else if by != "" {
		badParam(w, "by", "by "+strconv.Quote(by)+": want location")
		return
	}
	writeJSON(w, out)
}

func statsJSON(sq store.StatsQuery, st store.Stats) StatsJSON {
	ph := st.Phases
	return StatsJSON{
		CheckID: sq.CheckID, Location: sq.Location, From: sq.From.UTC(), To: sq.To.UTC(),
		Samples: st.Samples, Skipped: st.Skipped, Successes: st.Successes, Availability: st.Availability,
		ResponseTimeMS: latency(st.AvgResponseMS, st.MaxResponseMS, st.Response),
		TTFBMS:         MinMax{Avg: st.AvgTTFBMS, Max: st.MaxTTFBMS},
		StatusCodes:    st.StatusCodes,
		FailureClasses: st.FailureClasses,
		PhasesMS: PhasesJSON{DNS: st.AvgDNSMS, Connect: st.AvgConnectMS, TLS: st.AvgTLSMS,
			Processing: st.AvgProcessingMS, Transfer: st.AvgTransferMS},
		PhaseTimingsMS: PhaseTimingsJSON{DNS: phaseTiming(ph.DNS), Connect: phaseTiming(ph.Connect), TLS: phaseTiming(ph.TLS),
			Processing: phaseTiming(ph.Processing), Transfer: phaseTiming(ph.Transfer)},
		DetailSamples: st.DetailSamples,
	}
}

// AlertJSON is one entry of GET /api/v1/alerts.
type AlertJSON struct {
	EventID       string     `json:"event_id"`
	CheckID       string     `json:"check_id"`
	CheckName     string     `json:"check_name"`
	Rule          string     `json:"rule"`
	State         string     `json:"state"`
	PreviousState string     `json:"previous_state"`
	At            time.Time  `json:"at"`
	Message       string     `json:"message"`
	Availability  float64    `json:"availability"`
	Threshold     float64    `json:"threshold"`
	WindowSeconds float64    `json:"window_seconds"`
	Samples       uint32     `json:"samples"`
	Successes     uint32     `json:"successes"`
	DownSince     *time.Time `json:"down_since,omitempty"`
	// The evidence: the rule's kind, what it measured (value in unit, next
	// to threshold in the same unit), the results involved, the locations.
	Kind             string   `json:"kind"`
	Value            float64  `json:"value"`
	Unit             string   `json:"unit"`
	Summary          string   `json:"summary"`
	FirstResultID    string   `json:"first_result_id"`
	LastResultID     string   `json:"last_result_id"`
	Location         string   `json:"location"`
	FailingLocations []string `json:"failing_locations"`
	Locations        uint32   `json:"locations"`
	Quorum           uint32   `json:"quorum"`
	Silenced         bool     `json:"silenced"`
	Silence          string   `json:"silence,omitempty"`
	// Historical: found late (restore, changed rules, a backlog), recorded
	// and never paged; DetectedAt is when the aggregator decided it.
	Historical bool      `json:"historical"`
	DetectedAt time.Time `json:"detected_at"`
}

func (a *API) alerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, param, err := timeRange(q, a.now(), 7*24*time.Hour)
	if err != nil {
		badParam(w, param, err.Error())
		return
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 10000 {
			badParam(w, "limit", "limit "+strconv.Quote(s)+": want a whole number from 1 to 10000")
			return
		}
	}
	rows, next, ok := a.alertPage(w, r, from, to, limit)
	if !ok {
		return
	}
	writeJSON(w, AlertsJSON{Alerts: alertsJSON(rows), NextCursor: next})
}

// alertsJSON is rows as the API shows them.
func alertsJSON(rows []store.AlertRow) []AlertJSON {
	out := make([]AlertJSON, len(rows))
	for i, ar := range rows {
		out[i] = AlertJSON{
			EventID: ar.EventID, CheckID: ar.CheckID, CheckName: ar.CheckName, Rule: ar.Rule, State: ar.State,
			PreviousState: ar.PreviousState, At: ar.At.UTC(), Message: ar.Message, Availability: ar.Availability,
			Threshold: ar.Threshold, WindowSeconds: float64(ar.WindowMS) / 1000, Samples: ar.Samples, Successes: ar.Successes,
			Kind: ar.Kind, Value: ar.Value, Unit: ar.Unit, Summary: ar.Summary, FirstResultID: ar.FirstResultID,
			LastResultID: ar.LastResultID, Location: ar.Location, FailingLocations: ar.FailingLocations,
			Locations: ar.Locations, Quorum: ar.Quorum, Silenced: ar.Silenced, Silence: ar.Silence,
			Historical: ar.Historical, DetectedAt: ar.DetectedAt.UTC(),
		}
		if out[i].FailingLocations == nil {
			out[i].FailingLocations = []string{}
		}
		if ar.DownSince.Unix() > 0 {
			ds := ar.DownSince.UTC()
			out[i].DownSince = &ds
		}
	}
	return out
}

// checkIDGiven answers 404 for an empty check id (/api/v1/checks//stats),
// which names no check and no documented route, before any parameter is
// read.
func checkIDGiven(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if chi.URLParam(r, "checkID") == "" {
			writeProblem(w, Problem{Status: http.StatusNotFound, Detail: "no route for " + r.URL.Path + ": the check id is empty"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
