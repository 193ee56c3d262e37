package aggregator

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// alerting holds the rules' state of every check this instance evaluates.
type alerting struct {
	a *Aggregator
	// stale asks for a restore before the next batch: set at start and when
	// the group assigns partitions (the callback runs on another goroutine).
	stale    atomic.Bool
	trackers map[string]*alert.Tracker
	// recorded is the last recorded state of each (check, rule), read from
	// the compacted alert topic at restore, for checks without a tracker yet.
	recorded map[string]map[string]alert.State
	// partition of each check, and the newest event time seen per partition.
	partition map[string]int32
	newest    map[int32]time.Time
}

func newAlerting(a *Aggregator) *alerting {
	al := &alerting{a: a}
	al.reset()
	al.stale.Store(true)
	return al
}

func (al *alerting) reset() {
	al.trackers = map[string]*alert.Tracker{}
	al.recorded = map[string]map[string]alert.State{}
	al.partition = map[string]int32{}
	al.newest = map[int32]time.Time{}
}

func (al *alerting) options(checkID string) alert.Options {
	return alert.Options{Lateness: al.a.cfg.Alerting.Lateness, Silences: al.a.cfg.Alerting.Silences, States: al.recorded[checkID]}
}

// restoreIfStale rebuilds the rules' state when asked to, and returns the
// transitions the stored history holds that were never emitted.
func (al *alerting) restoreIfStale(ctx context.Context) ([]*alert.Transition, error) {
	if !al.stale.Swap(false) {
		return nil, nil
	}
	var out []*alert.Transition
	err := retry.Do(ctx, retry.Default, al.a.log, "restore alert states", func(ctx context.Context) error {
		var err error
		out, err = al.restore(ctx)
		return err
	})
	if err != nil {
		al.stale.Store(true)
	}
	return out, err
}

// restore rebuilds every check's rules from the compacted alert topic (the
// last state of each rule) and the stored results of the restore horizon.
// Results up to the later of the recorded transition and the horizon's
// start plus the rules' lookback only fill the windows; the later ones are
// evaluated again, which yields nothing already reported (evaluation is
// deterministic) and exactly the transitions lost in a crash.
func (al *alerting) restore(ctx context.Context) ([]*alert.Transition, error) {
	cfg := al.a.cfg
	latest, err := kafka.LatestByKey(ctx, cfg.Kafka, al.a.log, cfg.Kafka.AlertsTopic)
	if err != nil {
		return nil, err
	}
	al.reset()
	for _, r := range latest {
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			al.a.log.Warn("skipping undecodable alert state", "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		if al.recorded[ev.GetCheckId()] == nil {
			al.recorded[ev.GetCheckId()] = map[string]alert.State{}
		}
		al.recorded[ev.GetCheckId()][ev.GetRule()] = alert.State{State: alert.StateName(ev.GetState()), Since: ev.GetAt().AsTime()}
	}
	newest, err := al.a.store.NewestResult(ctx)
	if err != nil || newest.IsZero() {
		return nil, err
	}
	from := newest.Add(-cfg.Alerting.RestoreHorizon)
	stored, err := al.a.store.ResultsBetween(ctx, nil, from, newest.Add(time.Millisecond))
	if err != nil {
		return nil, err
	}
	var out []*alert.Transition
	for _, r := range stored {
		tr := al.trackers[r.CheckID]
		if tr == nil {
			tr = alert.NewTracker(r.CheckID, r.CheckName, cfg.Alerting.For(r.CheckID), al.options(r.CheckID))
			tr.Quiet(from.Add(tr.Lookback(time.Duration(r.IntervalMS) * time.Millisecond)))
			al.trackers[r.CheckID] = tr
		}
		tr.SetName(r.CheckName, r.Labels)
		tr.Add(ingest.StoredSample(r))
	}
	for _, tr := range al.trackers {
		out = append(out, tr.Flush()...)
	}
	al.a.log.Info("alert states restored", "recorded", len(latest), "checks", len(al.trackers),
		"results", len(stored), "from", from, "recovered_transitions", len(out))
	return out, nil
}

// observe offers a batch's results to their checks' rules and evaluates
// whatever the watermarks let through.
func (al *alerting) observe(recs []*kgo.Record, evs []*eventsv1.CheckResult) []*alert.Transition {
	m := al.a.metrics.evaluation
	for i, ev := range evs {
		id := ev.GetCheckId()
		tr := al.trackers[id]
		if tr == nil {
			tr = alert.NewTracker(id, ev.GetCheckName(), al.a.cfg.Alerting.For(id), al.options(id))
			al.trackers[id] = tr
		}
		tr.SetName(ev.GetCheckName(), ev.GetLabels())
		p := recs[i].Partition
		al.partition[id] = p
		if at := ev.GetScheduledAt().AsTime(); at.After(al.newest[p]) {
			al.newest[p] = at
		}
		switch tr.Add(ingest.Sample(ev)) {
		case alert.Duplicate:
			m.WithLabelValues("duplicate").Inc()
		case alert.Late:
			m.WithLabelValues("late").Inc()
			al.a.log.Warn("result too late for the alert rules (stored, not evaluated)", "check", id,
				"location", ev.GetLocation(), "scheduled_at", ev.GetScheduledAt().AsTime(), "watermark", tr.Watermark())
		default:
			m.WithLabelValues("evaluated").Inc()
		}
	}
	var out []*alert.Transition
	pending := 0
	for id, tr := range al.trackers {
		if tr.Pending() == 0 {
			continue
		}
		out = append(out, tr.Advance(al.newest[al.partition[id]])...)
		pending += tr.Pending()
	}
	al.a.metrics.pending.Set(float64(pending))
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if a.CheckID != b.CheckID {
			return a.CheckID < b.CheckID
		}
		return a.RuleName < b.RuleName
	})
	return out
}

// publish emits transitions to the alert topic and then records them in
// ClickHouse. The topic, keyed check/rule and compacted, is what a restart
// restores from; both writes are idempotent (deterministic event ids).
func (al *alerting) publish(ctx context.Context, trs []*alert.Transition) error {
	if len(trs) == 0 {
		return nil
	}
	a := al.a
	recs := make([]*kgo.Record, len(trs))
	rows := make([]store.AlertRow, len(trs))
	for i, tr := range trs {
		value, err := proto.Marshal(Event(tr))
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{
			Topic: a.cfg.Kafka.AlertsTopic, Key: []byte(tr.CheckID + "/" + tr.RuleName),
			Value: value, Headers: kafka.Headers(events.AlertStateChangedV1), Timestamp: tr.At,
		}
		rows[i] = AlertRow(tr)
		a.log.Info("alert state changed", "check", tr.CheckID, "rule", tr.RuleName, "state", tr.To,
			"silenced", tr.Silenced, "message", tr.Message)
	}
	if err := retry.Do(ctx, retry.Default, a.log, "produce alert events", func(ctx context.Context) error {
		return kafka.Produce(ctx, a.client, recs...)
	}); err != nil {
		return err
	}
	if err := retry.Do(ctx, retry.Default, a.log, "insert alert events", func(ctx context.Context) error {
		return a.store.InsertAlerts(ctx, rows)
	}); err != nil {
		return err
	}
	for _, tr := range trs {
		a.metrics.transitions.WithLabelValues(tr.To).Inc()
	}
	return nil
}

// Event is the AlertStateChanged event of a transition.
func Event(tr *alert.Transition) *eventsv1.AlertStateChanged {
	ev := &eventsv1.AlertStateChanged{
		EventId:          tr.EventID,
		CheckId:          tr.CheckID,
		CheckName:        tr.CheckName,
		Rule:             tr.RuleName,
		Kind:             tr.Rule.Kind,
		State:            alert.AlertState(tr.To),
		PreviousState:    alert.AlertState(tr.From),
		At:               timestamppb.New(tr.At),
		Summary:          tr.Summary,
		Message:          tr.Message,
		Availability:     tr.Availability,
		Value:            tr.Value,
		Unit:             tr.Unit,
		Threshold:        threshold(tr),
		Window:           durationpb.New(tr.Rule.Window),
		Samples:          uint32(tr.Samples),
		Successes:        uint32(tr.Successes),
		FirstResultId:    tr.FirstResultID,
		LastResultId:     tr.LastResultID,
		Location:         tr.Location,
		FailingLocations: tr.FailingLocations,
		Locations:        uint32(tr.Locations),
		Quorum:           uint32(max(1, tr.Rule.Quorum)),
		Silenced:         tr.Silenced,
		Silence:          tr.Silence,
	}
	if tr.To == alert.StateUp && !tr.Since.IsZero() {
		ev.DownSince = timestamppb.New(tr.Since)
	}
	return ev
}

// threshold is the rule's limit in the unit of the transition's value.
func threshold(tr *alert.Transition) float64 {
	r := tr.Rule
	switch r.Kind {
	case alert.KindLatency:
		return float64(r.Limit) / float64(time.Millisecond)
	case alert.KindConsecutive:
		if tr.To == alert.StateUp {
			return float64(r.Successes)
		}
		return float64(r.Failures)
	case alert.KindCertificate:
		return float64(r.Days)
	}
	return r.Threshold
}

// AlertRow is the alert_events row of a transition.
func AlertRow(tr *alert.Transition) store.AlertRow {
	ev := Event(tr)
	row := store.AlertRow{
		EventID: tr.EventID, CheckID: tr.CheckID, CheckName: tr.CheckName, Rule: tr.RuleName,
		State: tr.To, PreviousState: tr.From, At: tr.At, Message: tr.Message,
		Availability: tr.Availability, Threshold: ev.GetThreshold(), WindowMS: uint64(tr.Rule.Window.Milliseconds()),
		Samples: uint32(tr.Samples), Successes: uint32(tr.Successes), LastResultID: tr.LastResultID,
		Kind: tr.Rule.Kind, Value: tr.Value, Unit: tr.Unit, FirstResultID: tr.FirstResultID, Location: tr.Location,
		FailingLocations: tr.FailingLocations, Locations: uint32(tr.Locations), Quorum: ev.GetQuorum(),
		Silenced: tr.Silenced, Silence: tr.Silence, Summary: tr.Summary,
	}
	if ev.GetDownSince() != nil {
		row.DownSince = tr.Since
	}
	return row
}
