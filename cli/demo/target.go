// Package demo holds the dev stack's stand-ins for the outside world: a
// flaky service to probe (modelled on the seed's reservations service) and a
// webhook receiver that logs what the notifier sends. Neither is used in
// production.
package demo

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Target is the flaky reservations service: POST /reservations answers after
// 1–300 ms, mostly 200, sometimes 400, 401 or 500.
type Target struct {
	log *slog.Logger
	mu  sync.Mutex
	// served counts the answers by status, for anyone checking Picket's stats.
	served map[int]int
}

// NewTarget returns the demo target.
func NewTarget(log *slog.Logger) *Target { return &Target{log: log, served: map[int]int{}} }

// The seed's distributions: a latency multiplier and a status, each drawn uniformly.
var (
	multipliers = []int{1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3}
	statuses    = []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 400, 401, 500}
)

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
	delay := time.Duration(multipliers[rand.IntN(len(multipliers))]*(1+rand.IntN(100))) * time.Millisecond
	status := statuses[rand.IntN(len(statuses))]
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
		return
	}
	t.mu.Lock()
	t.served[status]++
	t.mu.Unlock()
	w.WriteHeader(status)
	w.Write([]byte(strconv.Itoa(status)))
}
