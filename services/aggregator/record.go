package aggregator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
)

// alertRecords are the alert_events rows of published transitions that wait
// to be stored: by the next rollup flush (so before the offsets of the
// batches that decided them are committed), or, when none comes in time (a
// transition decided by the idle clock or a restore, with no batch, or a
// flush in the air slow to land), on their own cadence (storeAlertsEvery). One insert takes all that wait, and
// inserts run one at a time: what is stored of a rule's transitions is
// always the first of them, in the order of the alert topic. A restore
// relies on that to find, cheaply, those a crash left unstored (rerecord).
type alertRecords struct {
	// writing is held while rows taken are inserted.
	writing sync.Mutex
	mu      sync.Mutex // guards rows, since and the taken ones
	rows    []store.AlertRow
	since   time.Time // when the oldest of rows was added (wall clock)
	// taken rows are being inserted (retried until stored or stopped),
	// the oldest of them added at takenSince: they wait as much as rows.
	taken      int
	takenSince time.Time
}

func (r *alertRecords) add(rows []store.AlertRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		r.since = time.Now()
	}
	r.rows = append(r.rows, rows...)
}

// waiting is how long the oldest row not yet stored has waited (0: none
// waits), and how many wait, those being inserted included.
func (r *alertRecords) waiting() (time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.taken > 0:
		return time.Since(r.takenSince), r.taken + len(r.rows)
	case len(r.rows) > 0:
		return time.Since(r.since), len(r.rows)
	}
	return 0, 0
}

// queued is how long the oldest row no insert has taken has waited.
func (r *alertRecords) queued() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		return 0
	}
	return time.Since(r.since)
}

// take hands over the rows waiting to an insert.
func (r *alertRecords) take() ([]store.AlertRow, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rows, since := r.rows, r.since
	r.rows = nil
	r.taken, r.takenSince = len(rows), since
	return rows, since
}

// done ends the insert of rows taken: stored, or (err) put back in front of
// those added since.
func (r *alertRecords) done(rows []store.AlertRow, since time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taken = 0
	if err != nil {
		r.rows, r.since = append(rows, r.rows...), since
	}
}

// behind is an error once the oldest row has waited limit or more: the
// alert history (alert_events) is that far behind the alert topic, e.g.
// while ClickHouse refuses its inserts.
func (r *alertRecords) behind(limit time.Duration) error {
	if w, n := r.waiting(); w >= limit {
		return fmt.Errorf("alert history behind: %d published transitions not stored in alert_events for %s", n, w.Truncate(time.Second))
	}
	return nil
}

// gauge reports how long the oldest row has waited.
func (r *alertRecords) gauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "picket_aggregator_alert_events_waiting_seconds",
		Help: "How long the oldest transition published to the alert topic has waited to be stored in alert_events (the alert history's lag); 0 when none waits.",
	}, func() float64 { w, _ := r.waiting(); return w.Seconds() })
}

// storeAlerts inserts every alert row waiting, in one statement, retried.
// Rows it took and could not store (a shutdown, a test's crash) go back in
// front of those added since.
func (a *Aggregator) storeAlerts(ctx context.Context) error {
	r := &a.records
	r.writing.Lock()
	defer r.writing.Unlock()
	rows, since := r.take()
	if len(rows) == 0 {
		return nil
	}
	err := func() error {
		if a.beforeAlertInsert != nil {
			if err := a.beforeAlertInsert(); err != nil {
				return err
			}
		}
		return a.retryFlush(ctx, "insert alert events", func(ctx context.Context) error {
			a.metrics.statements.WithLabelValues("alert_events").Inc()
			return a.store.InsertAlerts(ctx, rows)
		})
	}()
	r.done(rows, since, err)
	return err
}

// storeAlertsEvery is how often the alert rows waiting are looked at
// besides the flushes; they are stored once they have waited twice the
// rollup_interval, unless a flush that is about to store them has begun.
// So a transition decided with no batch (none to flush), or while a slow
// flush rebuilds rollups (the next waits for it), is not held back by it.
const storeAlertsEvery = time.Second

// storeWaitingAlerts stores the alert rows that no flush took in time.
func (a *Aggregator) storeWaitingAlerts(ctx context.Context) error {
	if a.flushTakesAlerts.Load() || a.records.queued() < 2*a.cfg.RollupInterval {
		return nil
	}
	return a.storeAlerts(ctx)
}

// rerecord stores in alert_events the transitions on the alert topic of
// the checks being restored that are not there yet: published before a
// crash (or by the partitions' previous owner) and never stored, which the
// redelivered results do not publish (nor record) again, the restored
// states holding them. latest are the last events of those checks' rules.
//
// A rule's stored rows are the first of its events on the topic (see
// alertRecords): a rule whose last event is stored is stored whole. For the
// others (none, unless a crash or a rebalance came between a publish and
// the insert) the topic is read again for their events, and those not
// stored are inserted as published (event id, detected_at and historical
// included): a row stored meanwhile by another instance is the same row,
// and alert_events, a ReplacingMergeTree keyed by the event id, keeps one.
func (al *alerting) rerecord(ctx context.Context, latest []*eventsv1.AlertStateChanged) error {
	stored, err := al.a.store.StoredAlertEvents(ctx, refs(latest))
	if err != nil {
		return err
	}
	// unstored are the record keys of the rules whose last event is not
	// stored.
	unstored := map[string]bool{}
	for _, ev := range latest {
		if !stored[ev.GetEventId()] {
			unstored[alertKey(ev.GetCheckId(), ev.GetRule())] = true
		}
	}
	if len(unstored) == 0 {
		return nil
	}
	var (
		evs  []*eventsv1.AlertStateChanged
		seen = map[string]bool{}
	)
	err = kafka.ReadAll(ctx, al.a.cfg.Kafka, al.a.log, al.a.cfg.Kafka.AlertsTopic, func(r *kgo.Record) {
		if !unstored[string(r.Key)] {
			return
		}
		ev := &eventsv1.AlertStateChanged{}
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, ev); err != nil {
			return // skipped, and warned about, by the restore
		}
		if !seen[ev.GetEventId()] {
			seen[ev.GetEventId()] = true
			evs = append(evs, ev)
		}
	})
	if err != nil {
		return fmt.Errorf("re-read %s: %w", al.a.cfg.Kafka.AlertsTopic, err)
	}
	if stored, err = al.a.store.StoredAlertEvents(ctx, refs(evs)); err != nil {
		return err
	}
	var rows []store.AlertRow
	for _, ev := range evs {
		if !stored[ev.GetEventId()] {
			rows = append(rows, EventRow(ev))
		}
	}
	if len(rows) == 0 {
		return nil // stored meanwhile (by the previous owner's last flush)
	}
	al.a.metrics.statements.WithLabelValues("alert_events").Inc()
	if err := al.a.store.InsertAlerts(ctx, rows); err != nil {
		return err
	}
	al.a.log.Info("alert events published and not stored (a crash or a rebalance came first) recorded from the alert topic",
		"events", len(rows), "rules", len(unstored))
	return nil
}

func refs(evs []*eventsv1.AlertStateChanged) []store.AlertRef {
	out := make([]store.AlertRef, len(evs))
	for i, ev := range evs {
		out[i] = store.AlertRef{CheckID: ev.GetCheckId(), EventID: ev.GetEventId()}
	}
	return out
}

// alertKey is the alert topic's key of a check's rule.
func alertKey(checkID, rule string) string { return checkID + "/" + rule }

// EventRow is the alert_events row of a published event: the row AlertRow
// gives for the transition it was made of.
func EventRow(ev *eventsv1.AlertStateChanged) store.AlertRow {
	row := store.AlertRow{
		EventID: ev.GetEventId(), CheckID: ev.GetCheckId(), CheckName: ev.GetCheckName(), Rule: ev.GetRule(),
		State: alert.StateName(ev.GetState()), PreviousState: alert.StateName(ev.GetPreviousState()),
		At: ev.GetAt().AsTime(), Message: ev.GetMessage(), Availability: ev.GetAvailability(),
		Threshold: ev.GetThreshold(), WindowMS: uint64(ev.GetWindow().AsDuration().Milliseconds()),
		Samples: ev.GetSamples(), Successes: ev.GetSuccesses(), LastResultID: ev.GetLastResultId(),
		Kind: ev.GetKind(), Value: ev.GetValue(), Unit: ev.GetUnit(), FirstResultID: ev.GetFirstResultId(),
		Location: ev.GetLocation(), FailingLocations: ev.GetFailingLocations(), Locations: ev.GetLocations(),
		Quorum: ev.GetQuorum(), Silenced: ev.GetSilenced(), Silence: ev.GetSilence(), Summary: ev.GetSummary(),
		Historical: ev.GetHistorical(),
	}
	if ev.GetDetectedAt() != nil {
		row.DetectedAt = ev.GetDetectedAt().AsTime()
	}
	if ev.GetDownSince() != nil {
		row.DownSince = ev.GetDownSince().AsTime()
	}
	return row
}
