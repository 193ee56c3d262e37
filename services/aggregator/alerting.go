package aggregator

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// alerting holds the rules' state of the checks of the results partitions
// this instance owns.
//
// Clocks. Rules run on event time. Each owned partition has a clock: the
// newest scheduled time seen on it, which other checks' results advance, so
// a check whose own results stopped still flushes its gaps and goes stale.
// When the whole partition is silent (no record at all for longer than the
// lateness), the wall clock is the only clock left: the partition's event
// time then advances by the wall time elapsed since its last record (or its
// restore), minus that grace. This never jumps to the wall clock, so a
// backlog being caught up (records keep arriving, old) is judged on its own
// event time, and a pause shorter than the lateness (a rebalance, a slow
// insert) changes nothing; the cost is that consumption stalled for longer
// than stale_after intervals plus twice the lateness counts as silence.
type alerting struct {
	a *Aggregator
	// mu is held by a batch's alert work, the idle tick and the partition
	// callbacks (which the client never runs during a batch).
	mu       sync.Mutex
	trackers map[string]*alert.Tracker
	// recorded is the last recorded state of each (check, rule), read from
	// the compacted alert topic at restore (and kept when a tracker is
	// evicted), for checks without a tracker.
	recorded map[string]map[string]alert.State
	// partition of each tracked check; clocks of the owned partitions.
	partition map[string]int32
	clocks    map[int32]*clock
	// toRestore are partitions assigned and not yet restored.
	toRestore map[int32]bool
	// partitions is the results topic's partition count, as last read.
	partitions int32
	// misplaced are checks whose records arrive on another partition than
	// their key's: warned about once.
	misplaced map[string]bool
}

// clock is one partition's event-time clock.
type clock struct {
	newest time.Time // the newest scheduled time seen on the partition
	heard  time.Time // wall time of its last record, or of its restore
}

// at is the partition's event time at wall time now, the wall clock
// counting once the partition has been silent for grace.
func (c *clock) at(now time.Time, grace time.Duration) time.Time {
	if c.newest.IsZero() {
		return c.newest
	}
	return c.newest.Add(max(0, now.Sub(c.heard)-grace))
}

func newAlerting(a *Aggregator) *alerting {
	return &alerting{a: a, trackers: map[string]*alert.Tracker{}, recorded: map[string]map[string]alert.State{},
		partition: map[string]int32{}, clocks: map[int32]*clock{}, toRestore: map[int32]bool{}, misplaced: map[string]bool{}}
}

func (al *alerting) options(checkID string) alert.Options {
	c := al.a.cfg.Alerting
	return alert.Options{Lateness: c.Lateness, StaleAfter: c.StaleAfter, Silences: c.Silences, States: al.recorded[checkID]}
}

// assigned is the client's OnPartitionsAssigned: the partitions' checks are
// rebuilt from storage before anything else is evaluated (another instance
// may have evaluated them until now).
func (al *alerting) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	al.mu.Lock()
	defer al.mu.Unlock()
	for _, p := range m[al.a.cfg.Kafka.ResultsTopic] {
		al.drop(p)
		al.toRestore[p] = true
	}
}

// revoked is OnPartitionsRevoked and OnPartitionsLost: the partitions'
// checks are forgotten, so nothing is evaluated or published for them here
// once another instance may own them.
func (al *alerting) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	al.mu.Lock()
	defer al.mu.Unlock()
	for _, p := range m[al.a.cfg.Kafka.ResultsTopic] {
		al.drop(p)
		delete(al.toRestore, p)
	}
}

// drop forgets partition p's checks.
func (al *alerting) drop(p int32) {
	delete(al.clocks, p)
	for id, q := range al.partition {
		if q == p {
			delete(al.trackers, id)
			delete(al.partition, id)
		}
	}
	for id := range al.recorded {
		if al.partitions > 0 && partitionOf(id, al.partitions) == p {
			delete(al.recorded, id)
		}
	}
	al.a.metrics.tracked.Set(float64(len(al.trackers)))
}

// keyPartitioner is the producers' partitioner (the prober's: franz-go's
// default), which places a keyed record at murmur2(key) mod partitions, as
// Kafka's Java client does. Results are keyed by check id. Used under al.mu.
var keyPartitioner = kgo.UniformBytesPartitioner(64<<10, true, true, nil).ForTopic("").(kgo.TopicBackupPartitioner)

// partitionOf is the results partition of a check's records.
func partitionOf(checkID string, partitions int32) int32 {
	return int32(keyPartitioner.PartitionByBackup(&kgo.Record{Key: []byte(checkID)}, int(partitions), nil))
}

// restorePending rebuilds the checks of partitions assigned since the last
// call, and returns the transitions their stored history holds that were
// never emitted.
func (al *alerting) restorePending(ctx context.Context) ([]*alert.Transition, error) {
	if len(al.toRestore) == 0 {
		return nil, nil
	}
	parts := make([]int32, 0, len(al.toRestore))
	for p := range al.toRestore {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var out []*alert.Transition
	err := retry.Do(ctx, retry.Default, al.a.log, "restore alert states", func(ctx context.Context) error {
		var err error
		out, err = al.restore(ctx, parts)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		delete(al.toRestore, p)
	}
	return out, nil
}

// restore rebuilds the checks of partitions parts (those whose key maps
// there) from the compacted alert topic (the last state of each rule) and
// the stored results of the restore horizon. Results up to the later of the
// recorded transition and the horizon's start plus the rules' lookback only
// fill the windows; the later ones are evaluated again under the watermark's
// rules, as live results are: a result of the partition still in Kafka and
// within the lateness of the newest stored one is still evaluated in order
// when it arrives. Evaluation being deterministic, this yields nothing
// already reported, and exactly the transitions lost in a crash, or found
// by changed rules.
func (al *alerting) restore(ctx context.Context, parts []int32) ([]*alert.Transition, error) {
	cfg := al.a.cfg
	now := al.a.now()
	n, err := al.partitionCount(ctx)
	if err != nil {
		return nil, err
	}
	mine := func(checkID string) bool { return slices.Contains(parts, partitionOf(checkID, n)) }
	for _, p := range parts {
		al.drop(p)
		al.clocks[p] = &clock{heard: now}
	}
	latest, err := kafka.LatestByKey(ctx, cfg.Kafka, al.a.log, cfg.Kafka.AlertsTopic)
	if err != nil {
		return nil, err
	}
	var lasts []*eventsv1.AlertStateChanged
	for _, r := range latest {
		ev := &eventsv1.AlertStateChanged{}
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, ev); err != nil {
			al.a.log.Warn("skipping undecodable alert state", "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		if !mine(ev.GetCheckId()) {
			continue
		}
		lasts = append(lasts, ev)
		if al.recorded[ev.GetCheckId()] == nil {
			al.recorded[ev.GetCheckId()] = map[string]alert.State{}
		}
		al.recorded[ev.GetCheckId()][ev.GetRule()] = alert.State{State: alert.StateName(ev.GetState()), Since: ev.GetAt().AsTime()}
	}
	// What was published and not stored is stored before anything else is
	// evaluated (and published, and stored after it).
	if err := al.rerecord(ctx, lasts); err != nil {
		return nil, err
	}
	newest, err := al.a.store.NewestResult(ctx)
	if err != nil || newest.IsZero() {
		return nil, err
	}
	from := newest.Add(-cfg.Alerting.RestoreHorizon)
	burnWindow := cfg.Alerting.MaxBurnWindow()
	if burnWindow > 0 {
		// The burn_rate counters of the minutes before it come from the
		// minute rollups: the raw history starts on a minute.
		from = from.Truncate(time.Minute)
	}
	for _, p := range parts {
		// A partition with nothing stored in the horizon starts at its start.
		al.clocks[p].newest = from
	}
	seen, err := al.a.store.Checks(ctx, from)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range seen {
		if mine(c.CheckID) {
			ids = append(ids, c.CheckID)
		}
	}
	var stored []store.RecentResult
	if len(ids) > 0 {
		if stored, err = al.a.store.ResultsBetween(ctx, ids, from, newest.Add(time.Millisecond)); err != nil {
			return nil, err
		}
		// The hours and days of live minutes wait (up to a minute) with
		// their offsets committed: an owner that crashed may have left
		// those of these checks behind, which a start's rebuildRecent
		// covers only when this process is the one starting.
		al.a.metrics.statements.WithLabelValues("check_rollup_1h").Inc()
		al.a.metrics.statements.WithLabelValues("check_rollup_1d").Inc()
		if err := al.a.store.RebuildHoursAndDays(ctx, ids, from, newest); err != nil {
			return nil, err
		}
	}
	restored := map[string]*alert.Tracker{}
	add := func(r store.RecentResult) {
		tr := restored[r.CheckID]
		if tr == nil {
			tr = alert.NewTracker(r.CheckID, r.CheckName, cfg.Alerting.For(r.CheckID), al.options(r.CheckID))
			tr.Quiet(from.Add(tr.Lookback(time.Duration(r.IntervalMS) * time.Millisecond)))
			restored[r.CheckID] = tr
		}
		tr.SetName(r.CheckName, r.Labels)
		tr.SetType(r.CheckType)
		tr.AddStored(ingest.StoredSample(r))
		p := partitionOf(r.CheckID, n)
		al.partition[r.CheckID] = p
		if c := al.clocks[p]; r.ScheduledAt.After(c.newest) {
			c.newest = r.ScheduledAt
		}
	}
	for _, r := range stored {
		add(r)
	}
	if err := al.seedBurnRates(ctx, restored, from, burnWindow); err != nil {
		return nil, err
	}
	// Checks with a recorded state but nothing in the horizon fell silent
	// before it: their staleness counts from their newest stored result.
	var silent []string
	for id, states := range al.recorded {
		if restored[id] != nil || !mine(id) {
			continue
		}
		for _, st := range states {
			if st.State != alert.StateStale {
				silent = append(silent, id)
				break
			}
		}
	}
	sort.Strings(silent)
	silentLasts, err := al.a.store.LastResults(ctx, silent, from)
	if err != nil {
		return nil, err
	}
	for _, r := range silentLasts {
		add(r)
	}
	var out []*alert.Transition
	for id, tr := range restored {
		al.trackers[id] = tr
		out = append(out, tr.Advance(al.clocks[al.partition[id]].newest)...)
	}
	al.evict(now)
	al.a.log.Info("alert states restored", "partitions", parts, "recorded", len(latest), "checks", len(restored),
		"results", len(stored), "silent_checks", len(silentLasts), "from", from, "recovered_transitions", len(out))
	sortTransitions(out)
	return out, nil
}

// seedBurnRates fills the burn_rate counters of the restored checks with the
// minute rollups of the burn window before from, where their raw history
// starts: a 3-day window is rebuilt without reading 3 days of raw rows.
func (al *alerting) seedBurnRates(ctx context.Context, restored map[string]*alert.Tracker, from time.Time, burnWindow time.Duration) error {
	if burnWindow <= 0 {
		return nil
	}
	var ids []string
	for id, tr := range restored {
		if tr.HasBurnRate() {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	counts, err := al.a.store.MinuteCounts(ctx, ids, from.Add(-burnWindow).Truncate(time.Minute), from)
	if err != nil {
		return err
	}
	for _, c := range counts {
		restored[c.CheckID].SeedMinute(c.Location, c.Minute, c.Runs, c.Successes)
	}
	return nil
}

// partitionCount reads the results topic's partition count.
func (al *alerting) partitionCount(ctx context.Context) (int32, error) {
	topic := al.a.cfg.Kafka.ResultsTopic
	tds, err := kadm.NewClient(al.a.client).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return 0, fmt.Errorf("partitions of %s: topic not found (%v)", topic, td.Err)
	}
	al.partitions = int32(len(td.Partitions))
	return al.partitions, nil
}

// observe offers a batch's results to their checks' rules and evaluates
// whatever the watermarks let through.
func (al *alerting) observe(recs []*kgo.Record, evs []*eventsv1.CheckResult) []*alert.Transition {
	m := al.a.metrics.evaluation
	now := al.a.now()
	for i, ev := range evs {
		id := ev.GetCheckId()
		p := recs[i].Partition
		tr := al.trackers[id]
		if tr == nil {
			tr = alert.NewTracker(id, ev.GetCheckName(), al.a.cfg.Alerting.For(id), al.options(id))
			al.trackers[id] = tr
			if al.partitions > 0 && partitionOf(id, al.partitions) != p && !al.misplaced[id] {
				al.misplaced[id] = true
				al.a.log.Warn("results of a check arrive on another partition than their key's: after a rebalance, its rules are not rebuilt from storage",
					"check", id, "partition", p, "key_partition", partitionOf(id, al.partitions))
			}
		}
		al.partition[id] = p
		tr.SetName(ev.GetCheckName(), ev.GetLabels())
		tr.SetType(ev.GetCheckType())
		c := al.clocks[p]
		if c == nil {
			c = &clock{}
			al.clocks[p] = c
		}
		c.heard = now
		if at := ev.GetScheduledAt().AsTime(); at.After(c.newest) {
			c.newest = at
		}
		switch tr.Add(ingest.Sample(ev)) {
		case alert.Duplicate:
			m.WithLabelValues("duplicate").Inc()
		case alert.Late:
			m.WithLabelValues("late").Inc()
			al.a.log.Warn("result too late for the alert rules (stored, not evaluated)", "check", id,
				"location", ev.GetLocation(), "scheduled_at", ev.GetScheduledAt().AsTime(), "watermark", tr.Watermark())
		case alert.Skipped:
			m.WithLabelValues("overload").Inc()
		default:
			m.WithLabelValues("evaluated").Inc()
		}
	}
	return al.advance(now)
}

// advance evaluates every check on its partition's clock at wall time now:
// what the watermarks let through, and the checks gone stale; then evicts
// the trackers of checks that stopped reporting.
func (al *alerting) advance(now time.Time) []*alert.Transition {
	var out []*alert.Transition
	pending := 0
	// A tracker with nothing pending whose staleness is beyond every clock
	// would do nothing: skipped without looking its clock up (the steady
	// state's many checks, each batch).
	var latest time.Time
	for _, c := range al.clocks {
		latest = maxTime(latest, c.at(now, al.a.cfg.Alerting.Lateness))
	}
	for id, tr := range al.trackers {
		if tr.Pending() == 0 {
			if due, ok := tr.ExpiresAt(); !ok || due.After(latest) {
				continue
			}
		}
		c := al.clocks[al.partition[id]]
		if c == nil {
			continue
		}
		out = append(out, tr.Advance(c.at(now, al.a.cfg.Alerting.Lateness))...)
		pending += tr.Pending()
	}
	al.evict(now)
	al.a.metrics.pending.Set(float64(pending))
	sortTransitions(out)
	return out
}

// evict drops the trackers of checks stale for longer than their rules'
// lookback and the lateness: they hold nothing but their states, kept in
// recorded so a check that reports again starts from them.
func (al *alerting) evict(now time.Time) {
	for id, tr := range al.trackers {
		if !tr.Stale() {
			continue // never idle: spares the clock lookup
		}
		c := al.clocks[al.partition[id]]
		if c == nil || !tr.Idle(c.at(now, al.a.cfg.Alerting.Lateness)) {
			continue
		}
		al.recorded[id] = tr.States()
		delete(al.trackers, id)
		delete(al.partition, id)
	}
	al.a.metrics.tracked.Set(float64(len(al.trackers)))
}

// idle runs while no batch does: it restores newly assigned partitions and
// advances the clocks of silent ones, so their gaps flush and their checks
// go stale. It stops when ctx ends.
func (al *alerting) idle(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := al.tick(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (al *alerting) tick(ctx context.Context) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	trs, err := al.restorePending(ctx)
	if err != nil {
		return err
	}
	return al.publish(ctx, append(trs, al.advance(al.a.now())...))
}

func sortTransitions(out []*alert.Transition) {
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
}

// publish emits transitions to the alert topic; their alert_events rows
// wait for the next flush (alertRecords). The topic, keyed check/rule and
// compacted, is what a restart restores from, and re-records what a crash
// left unstored from; both writes are idempotent (deterministic event ids).
//
// Each transition is stamped with when it was decided; one older than
// alerting.max_page_age then is historical: recorded, never paged.
func (al *alerting) publish(ctx context.Context, trs []*alert.Transition) error {
	if len(trs) == 0 {
		return nil
	}
	a := al.a
	now := a.now()
	recs := make([]*kgo.Record, len(trs))
	rows := make([]store.AlertRow, len(trs))
	for i, tr := range trs {
		if tr.DetectedAt.IsZero() {
			tr.DetectedAt = now
			tr.Historical = a.cfg.Alerting.MaxPageAge > 0 && now.Sub(tr.At) > a.cfg.Alerting.MaxPageAge
		}
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
			"silenced", tr.Silenced, "historical", tr.Historical, "message", tr.Message)
	}
	if err := retry.Do(ctx, retry.Default, a.log, "produce alert events", func(ctx context.Context) error {
		return kafka.Produce(ctx, a.client, recs...)
	}); err != nil {
		return err
	}
	a.records.add(rows)
	for _, tr := range trs {
		a.metrics.transitions.WithLabelValues(tr.To).Inc()
		if tr.Historical {
			a.metrics.historical.Inc()
		}
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
		Window:           durationpb.New(window(tr)),
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
		Historical:       tr.Historical,
	}
	if !tr.DetectedAt.IsZero() {
		ev.DetectedAt = timestamppb.New(tr.DetectedAt)
	}
	if tr.To != alert.StateDown && tr.To != alert.StateDegraded && alert.Open(tr.From) && !tr.Since.IsZero() {
		ev.DownSince = timestamppb.New(tr.Since)
	}
	return ev
}

// threshold is the rule's limit in the unit of the transition's value.
func threshold(tr *alert.Transition) float64 {
	r := tr.Rule
	switch {
	case tr.To == alert.StateStale:
		return tr.Value // the intervals without a result
	case r.Kind == alert.KindLatency:
		return float64(r.Limit) / float64(time.Millisecond)
	case r.Kind == alert.KindConsecutive:
		if tr.To == alert.StateUp {
			return float64(r.Successes)
		}
		return float64(r.Failures)
	case r.Kind == alert.KindCertificate:
		return float64(r.Days)
	case tr.Burn != nil:
		return tr.Burn.Factor // the pair's burn rate, as value is its long window's
	}
	return r.Threshold
}

// window is the window of the evidence: for burn_rate the pair's long one.
func window(tr *alert.Transition) time.Duration {
	if tr.Burn != nil {
		return tr.Burn.Long
	}
	return tr.Rule.Window
}

// AlertRow is the alert_events row of a transition.
func AlertRow(tr *alert.Transition) store.AlertRow {
	ev := Event(tr)
	row := store.AlertRow{
		EventID: tr.EventID, CheckID: tr.CheckID, CheckName: tr.CheckName, Rule: tr.RuleName,
		State: tr.To, PreviousState: tr.From, At: tr.At, Message: tr.Message,
		Availability: tr.Availability, Threshold: ev.GetThreshold(), WindowMS: uint64(window(tr).Milliseconds()),
		Samples: uint32(tr.Samples), Successes: uint32(tr.Successes), LastResultID: tr.LastResultID,
		Kind: tr.Rule.Kind, Value: tr.Value, Unit: tr.Unit, FirstResultID: tr.FirstResultID, Location: tr.Location,
		FailingLocations: tr.FailingLocations, Locations: uint32(tr.Locations), Quorum: ev.GetQuorum(),
		Silenced: tr.Silenced, Silence: tr.Silence, Summary: tr.Summary,
		Historical: tr.Historical, DetectedAt: tr.DetectedAt,
	}
	if ev.GetDownSince() != nil {
		row.DownSince = tr.Since
	}
	return row
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
