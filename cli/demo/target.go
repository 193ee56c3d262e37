// Package demo holds the dev stack's stand-ins for the outside world: a
// service to probe (modelled on the seed's reservations service) and a
// webhook receiver that logs what the notifier sends. Neither is used in
// production.
package demo

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Shape is how the demo target behaves over time: healthy with a little
// noise, and a scheduled outage, so that the default alert rule (availability
// below 80 % over 2 minutes) opens once and resolves once per outage instead
// of flapping around its threshold.
type Shape struct {
	// SuccessRate is the fraction of requests answered 200 outside outages;
	// the others get a 500.
	SuccessRate float64
	// FirstOutage is how long after the start the first outage begins.
	FirstOutage time.Duration
	// Outage is how long an outage lasts (every request gets a 503); 0
	// means none.
	Outage time.Duration
	// OutageEvery is the time from one outage's start to the next's.
	OutageEvery time.Duration
}

// DefaultShape: 99 % success, a 2-minute outage 3 minutes after the start and
// then every 15 minutes.
func DefaultShape() Shape {
	return Shape{SuccessRate: 0.99, FirstOutage: 3 * time.Minute, Outage: 2 * time.Minute, OutageEvery: 15 * time.Minute}
}

// Validate names the offending key under prefix.
func (s Shape) Validate(prefix string) error {
	switch {
	case !(s.SuccessRate >= 0 && s.SuccessRate <= 1):
		return fmt.Errorf("%s.success_rate: %v must be in [0, 1]", prefix, s.SuccessRate)
	case s.FirstOutage < 0:
		return fmt.Errorf("%s.first_outage: %s must not be negative", prefix, s.FirstOutage)
	case s.Outage < 0:
		return fmt.Errorf("%s.outage: %s must not be negative", prefix, s.Outage)
	case s.Outage > 0 && s.OutageEvery <= s.Outage:
		return fmt.Errorf("%s.outage_every: %s must be longer than outage (%s)", prefix, s.OutageEvery, s.Outage)
	}
	return nil
}

// InOutage reports whether, started at start, the target is in an outage at t.
func (s Shape) InOutage(start, t time.Time) bool {
	if s.Outage <= 0 {
		return false
	}
	d := t.Sub(start) - s.FirstOutage
	return d >= 0 && d%s.OutageEvery < s.Outage
}

// Target is the demo reservations service: POST /reservations answers as its
// Shape says, after a realistic latency (mostly 20–60 ms, sometimes a few
// hundred). GET /served returns what it answered, by status.
type Target struct {
	log   *slog.Logger
	shape Shape
	start time.Time
	now   func() time.Time

	mu  sync.Mutex
	rnd *rand.Rand
	// served counts the answers by status, for anyone checking Picket's stats.
	served   map[int]int
	inOutage bool
}

// NewTarget returns the demo target, its schedule starting now.
func NewTarget(log *slog.Logger, shape Shape) *Target {
	return newTarget(log, shape, time.Now, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
}

func newTarget(log *slog.Logger, shape Shape, now func() time.Time, rnd *rand.Rand) *Target {
	return &Target{log: log, shape: shape, start: now(), now: now, rnd: rnd, served: map[int]int{}}
}

// answer decides the status and latency of a request arriving at t.
func (t *Target) answer(at time.Time) (status int, delay time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.shape.InOutage(t.start, at)
	if out != t.inOutage {
		t.inOutage = out
		if out {
			t.log.Info("demo target: scheduled outage begins: every request gets a 503", "for", t.shape.Outage.String(), "every", t.shape.OutageEvery.String())
		} else {
			t.log.Info("demo target: scheduled outage ends")
		}
	}
	if out {
		return http.StatusServiceUnavailable, time.Duration(5+t.rnd.IntN(15)) * time.Millisecond
	}
	delay = time.Duration(20+t.rnd.IntN(40)) * time.Millisecond
	if t.rnd.Float64() < 0.05 {
		delay = time.Duration(150+t.rnd.IntN(250)) * time.Millisecond
	}
	status = http.StatusOK
	if t.rnd.Float64() >= t.shape.SuccessRate {
		status = http.StatusInternalServerError
	}
	return status, delay
}

// ServeHTTP implements http.Handler.
func (t *Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/reservations" && r.Method == http.MethodPost:
	case r.URL.Path == "/served" && r.Method == http.MethodGet:
		t.mu.Lock()
		counts := map[string]int{}
		for k, v := range t.served {
			counts[strconv.Itoa(k)] = v
		}
		t.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(counts)
		return
	default:
		http.NotFound(w, r)
		return
	}
	status, delay := t.answer(t.now())
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
		return
	}
	t.mu.Lock()
	t.served[status]++
	t.mu.Unlock()
	w.WriteHeader(status)
	w.Write([]byte(strconv.Itoa(status)))
}
