package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/logtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/poll"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// The notifier's own logs — retries, rejections, deliveries — never show a
// destination's token, signing secret or routing key: a Slack destination
// failing twice then succeeding, and a PagerDuty one rejecting for good.
func TestNotifierLogsCarryNoSecret(t *testing.T) {
	const slackToken, routingKey, signing = "T0AAA/B0BBB/sekritSlackToken42", "pdKeySekrit0123456789abcdef01234", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		n := calls[r.URL.Path]
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/services/") && n <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unavailable: %s", r.URL.Path) // echoes the token
		case r.URL.Path == "/v2/enqueue":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"invalid event","routing_key":"`+routingKey+`"}`)
		}
	}))
	defer srv.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Safety.Allow = []string{"127.0.0.1"}
	cfg.Destinations = []deliver.DestinationConfig{
		{Name: "chat", Kind: "slack", URL: srv.URL + "/services/" + slackToken},
		{Name: "pager", Kind: "pagerduty", URL: srv.URL + "/v2/enqueue", RoutingKey: routingKey},
		{Name: "hooks", Kind: "webhook", URL: srv.URL + "/hook", Secret: signing},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	n, err := New(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	rec := alertRecord(t, cfg.Kafka.AlertsTopic, "e1", eventsv1.AlertState_ALERT_STATE_DOWN, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "delivered to chat and hooks, rejected by pager", func() (bool, string) {
		out := logs.String()
		ok := strings.Count(out, `msg=delivered`) == 2 && strings.Contains(out, "parking notification")
		return ok, out
	})
	out := logs.String()
	for _, secret := range []string{slackToken, "sekritSlackToken42", routingKey, signing} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q in the logs:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "POST http://127.0.0.1:") || !strings.Contains(out, "status 503") {
		t.Errorf("the logs do not say what failed where:\n%s", out)
	}
}
