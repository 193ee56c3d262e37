// Package deliverylog writes the notifier's delivery log to ClickHouse: one
// row per attempt to send a notification, and per event not sent and why.
//
// It must never slow a delivery down: rows are buffered and written in
// batches; when ClickHouse cannot keep up, rows are dropped, counted
// (picket_notifier_delivery_log_dropped_total) and logged, never waited for.
package deliverylog

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/notifier"
)

// Writer buffers delivery-log rows and inserts them in batches.
type Writer struct {
	st      *store.Store
	log     *slog.Logger
	rows    chan store.DeliveryRow
	every   time.Duration
	batch   int
	dropped prometheus.Counter
	written prometheus.Counter
}

var _ notifier.DeliveryLog = (*Writer)(nil)

// New returns a Writer of up to buffer rows in hand, flushing every `every`
// or batch rows.
func New(st *store.Store, log *slog.Logger, reg prometheus.Registerer, buffer, batch int, every time.Duration) *Writer {
	w := &Writer{st: st, log: log, rows: make(chan store.DeliveryRow, buffer), every: every, batch: batch,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_notifier_delivery_log_dropped_total",
			Help: "Delivery-log rows dropped because ClickHouse did not keep up.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_notifier_delivery_log_rows_total",
			Help: "Delivery-log rows written to ClickHouse.",
		}),
	}
	reg.MustRegister(w.dropped, w.written)
	return w
}

// Record implements notifier.DeliveryLog; it never blocks.
func (w *Writer) Record(d notifier.Delivery) {
	row := store.DeliveryRow{EventID: d.EventID, NotificationKey: d.Key, Destination: d.Destination,
		Attempt: uint32(max(d.Attempt, 0)), Status: d.Status, LatencyMS: float64(d.Latency.Microseconds()) / 1000,
		Error: d.Error, At: d.At.UTC()}
	select {
	case w.rows <- row:
	default:
		w.dropped.Inc()
	}
}

// Run writes rows until ctx ends, then flushes what it holds (for at most
// five seconds).
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	var buf []store.DeliveryRow
	flush := func(ctx context.Context) {
		if len(buf) == 0 {
			return
		}
		err := retry.Do(ctx, retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}, w.log, "write delivery log",
			func(ctx context.Context) error { return w.st.InsertDeliveries(ctx, buf) })
		if err != nil {
			w.dropped.Add(float64(len(buf)))
			w.log.Error("delivery log rows dropped", "rows", len(buf), "err", err)
		} else {
			w.written.Add(float64(len(buf)))
		}
		buf = buf[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case r := <-w.rows:
					buf = append(buf, r)
					continue
				default:
				}
				break
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(fctx)
			cancel()
			return nil
		case r := <-w.rows:
			buf = append(buf, r)
			if len(buf) >= w.batch {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		}
	}
}
