package demo

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/picket-dev/picket/services/notifier/deliver"
)

// Receiver is a webhook endpoint that logs and keeps every payload it gets.
// GET returns them all as JSON.
type Receiver struct {
	log *slog.Logger
	mu  sync.Mutex
	got []deliver.Payload
}

// NewReceiver returns the demo webhook receiver.
func NewReceiver(log *slog.Logger) *Receiver { return &Receiver{log: log} }

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rc.Payloads())
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var p deliver.Payload
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		if err != nil {
			http.Error(w, "bad payload: "+err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, p)
		rc.mu.Unlock()
		rc.log.Info("webhook received", "state", p.State, "message", p.Message)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
	}
}

// Payloads returns what was received, oldest first.
func (rc *Receiver) Payloads() []deliver.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]deliver.Payload(nil), rc.got...)
}
