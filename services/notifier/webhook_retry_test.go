package notifier

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// verifyStandardWebhook checks a request as the Standard Webhooks 1.0.0
// specification says a receiver must, written from the specification:
// base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)) among the
// space-separated "v1,<sig>" of webhook-signature.
func verifyStandardWebhook(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s", h.Get("webhook-id"), h.Get("webhook-timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

// A generic webhook receiver failing twice then succeeding gets the event
// once, on the third attempt, with a valid Standard Webhooks signature and
// the event id as webhook-id on every attempt.
func TestWebhookFailingTwiceGetsTheEventOnceOnTheThirdAttempt(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var (
		mu       sync.Mutex
		attempts int
		ids      []string
		accepted []string
		sigOK    = true
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		ids = append(ids, r.Header.Get("webhook-id"))
		sigOK = sigOK && verifyStandardWebhook(secret, r.Header, body)
		if attempts <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(body, &p)
		accepted = append(accepted, p.EventID)
	}))
	defer srv.Close()
	e := newEnv(t)
	cfg := e.cfg
	cfg.Safety.Allow = []string{"127.0.0.1"}
	cfg.Destinations = []deliver.DestinationConfig{{Name: "hooks", Kind: "webhook", URL: srv.URL + "/hook/" + secretToken, Secret: secret}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, slog.New(slog.NewTextHandler(e.logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stop := runNotifier(t, n)
	e.produce(alertEvent("ev-1", "api", down))
	poll.Until(t, 20*time.Second, "the event accepted and committed", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) == 1 && e.committed("hooks") == 1, fmt.Sprint(attempts, accepted)
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 || fmt.Sprint(accepted) != "[ev-1]" || fmt.Sprint(ids) != "[ev-1 ev-1 ev-1]" || !sigOK {
		t.Fatalf("attempts %d, accepted %v, webhook-ids %v, signatures valid %v: want 3 attempts, ev-1 once, the same id, valid", attempts, accepted, ids, sigOK)
	}
	noSecrets(t, e.logs, secret, strings.TrimPrefix(secret, "whsec_"))
}
