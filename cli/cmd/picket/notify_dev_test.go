package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/notifier"
)

// hookRecorder records the webhook-id of every POST it gets.
type hookRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.ids = append(h.ids, r.Header.Get("webhook-id"))
	h.mu.Unlock()
}

func (h *hookRecorder) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ids...)
}

// With `picket dev` running, `picket notify test` and `picket notify
// redrive` use its notifier's destinations, found from its data directory:
// a newcomer's receiver gets the sample notification. A stopped stack says
// how to go on.
func TestNotifyOnARunningDevStack(t *testing.T) {
	rec := &hookRecorder{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	cfg := devstack.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	cfg.Database = embeddedtest.Database(t)
	cfg.Webhooks = []notifier.WebhookConfig{{Name: "mine", URL: hook.URL + "/hook", Timeout: 5 * time.Second}}
	s, err := devstack.Start(context.Background(), cfg, devstack.Options{Backend: embeddedtest.Backend(t)})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Close()
		}
	})

	out, errOut, err := picket(t, "notify", "test", "mine", "--data-dir", cfg.DataDir)
	if err != nil {
		t.Fatalf("picket notify test: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "sent a test notification to mine (webhook-id ") {
		t.Errorf("picket notify test printed %q", out)
	}
	if got := rec.got(); len(got) != 1 || got[0] == "" || !strings.Contains(out, got[0]) {
		t.Fatalf("the receiver got %q, want one POST with the webhook-id printed in %q", got, out)
	}
	if _, _, err := picket(t, "notify", "test", "nobody", "--data-dir", cfg.DataDir); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("notify test of an unknown destination: %v, want an error naming it", err)
	}
	// The park topic exists once the notifier has created its topics, a
	// moment after the start.
	poll.Until(t, 20*time.Second, "picket notify redrive to find nothing parked", func() (bool, string) {
		out, errOut, err = picket(t, "notify", "redrive", "--destination", "mine", "--from", "1h", "--data-dir", cfg.DataDir)
		return err == nil && strings.Contains(out, "redrive mine: 0 sent, 0 failed"), fmt.Sprintf("%v %q %s", err, out, errOut)
	})

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	_, _, err = picket(t, "notify", "test", "mine", "--data-dir", cfg.DataDir)
	if err == nil || !strings.Contains(err.Error(), "is stopped, and its notifier with it: start it (make run)") {
		t.Fatalf("notify test on a stopped stack: %v", err)
	}
}
