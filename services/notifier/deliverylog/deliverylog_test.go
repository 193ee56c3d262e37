package deliverylog_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/notifier/deliverylog"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }

// What the notifier records reaches notification_deliveries: every attempt
// with its status, latency and error.
func TestWriterRecordsAttempts(t *testing.T) {
	st := embeddedtest.Store(t)
	w := deliverylog.New(st, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 100, 10, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	at := embeddedtest.Day().Add(time.Hour)
	w.Record(notifier.Delivery{EventID: "e1", Key: "e1", Destination: "ops", Attempt: 1, Status: "retry", Latency: 15 * time.Millisecond, Error: "https://hooks.example.com answered 503", At: at})
	w.Record(notifier.Delivery{EventID: "e1", Key: "e1", Destination: "ops", Attempt: 2, Status: "delivered", Latency: 5 * time.Millisecond, At: at.Add(time.Second)})
	poll.Until(t, 20*time.Second, "two rows", func() (bool, string) {
		rows, err := st.Deliveries(context.Background(), store.DeliveryQuery{EventID: "e1", From: at.Add(-time.Hour), To: at.Add(time.Hour)})
		return err == nil && len(rows) == 2, "not yet"
	})
	// Rows recorded just before shutdown are flushed by it.
	w.Record(notifier.Delivery{EventID: "e2", Destination: "ops", Status: "silenced", At: at})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows, err := st.Deliveries(context.Background(), store.DeliveryQuery{From: at.Add(-time.Hour), To: at.Add(time.Hour)})
	if err != nil || len(rows) != 3 || rows[1].LatencyMS != 15 || rows[1].Error == "" || rows[2].Status != "silenced" {
		t.Fatalf("rows %+v, %v", rows, err)
	}
}
