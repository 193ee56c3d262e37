package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// A destination consumes the alert topic in its own consumer group,
// <group>.<name>, so that its progress, its retries and its rebalances are
// its own: a dead or slow destination holds back nothing but itself.
//
// Its loop polls, routes and groups what it got, sends what is due (one
// message at a time, in order, within the rate limit), records what it did
// in the state topic, commits the alert offsets up to the first event not
// yet done, and only then lets a rebalance in. A failed message waits for
// its next attempt outside the poll, so a rebalance never waits for a
// backoff, only for one request.
type destination struct {
	n      *Notifier
	sink   deliver.Sink
	name   string
	policy Policy
	cl     *kgo.Client
	log    *slog.Logger
	rnd    *rand.Rand

	// mu guards the work in hand against the rebalance callbacks.
	mu       sync.Mutex
	parts    map[int32][]*item // uncommitted records by partition, in offset order
	assigned map[int32]bool
	queue    []*notice // messages to send, in order
	groups   map[string]*group
	state    map[string]*sentState // by alert key
	dirty    map[string]bool       // state keys to write before the next commit
	reminded map[string]bool       // alert keys with a reminder queued
	nextSend time.Time             // rate limit
	// freshBefore is set when the destination's group had committed
	// nothing at start: events written before it are history, not sent.
	freshBefore time.Time

	// smu guards the status /readyz and the metrics read.
	smu          sync.Mutex
	failingSince time.Time
	lastErr      string
	disabled     string
}

// item is one alert record a destination has polled.
type item struct {
	rec  *kgo.Record
	ev   *eventsv1.AlertStateChanged
	key  string
	done bool
}

// notice is one message to send: one event, a group of them, or a reminder.
type notice struct {
	items  []*item
	group  map[string]string
	repeat int
	// reminders are the events of a reminder (items empty): one alert's,
	// or those of a group reminded together; alertKeys their alerts.
	reminders []*eventsv1.AlertStateChanged
	alertKeys []string
	born      time.Time // its oldest event's write time
	attempts  int
	next      time.Time
	lastErr   error
	finished  bool
	sending   bool // a request for it is open
	// parkReason is set once nt was given up on but parking it failed
	// (Kafka away): from then on only the parking is tried again, never
	// another send of what the destination refused or may already have.
	parkReason string
}

func (nt *notice) events() []*eventsv1.AlertStateChanged {
	if len(nt.reminders) > 0 {
		return nt.reminders
	}
	evs := make([]*eventsv1.AlertStateChanged, len(nt.items))
	for i, it := range nt.items {
		evs[i] = it.ev
	}
	return evs
}

// group gathers the events of one group of one route.
type group struct {
	route    *RouteConfig
	vals     map[string]string
	items    []*item
	flushAt  time.Time // zero: nothing waiting
	lastSent time.Time
}

// maxRound bounds how long one round sends before it commits and lets a
// rebalance in.
const maxRound = time.Second

// maxIdle is the longest poll: how often due work is looked at without new
// records.
const maxIdle = 200 * time.Millisecond

func newDestination(n *Notifier, s deliver.Sink) *destination {
	d := &destination{
		n: n, sink: s, name: s.Name(), policy: n.cfg.Delivery.forDestination(s.Name(), s.Kind()),
		log:   n.log.With("destination", s.Name(), "kind", s.Kind()),
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		parts: map[int32][]*item{}, assigned: map[int32]bool{}, groups: map[string]*group{},
		state: map[string]*sentState{}, dirty: map[string]bool{}, reminded: map[string]bool{},
	}
	return d
}

// connect makes the destination's group consumer; it runs once the topics
// exist, so the first assignment can read the state topic.
func (d *destination) connect() error {
	n := d.n
	group := n.cfg.Group + "." + d.name
	opts := append(n.cfg.Kafka.ClientOptions(d.log), kafka.GroupOptions(group, n.cfg.Kafka.AlertsTopic)...)
	opts = append(opts,
		kgo.OnPartitionsAssigned(d.assignedCB),
		kgo.OnPartitionsRevoked(d.revokedCB),
		kgo.OnPartitionsLost(d.revokedCB),
	)
	if id := n.cfg.Delivery.InstanceID; id != "" {
		opts = append(opts, kgo.InstanceID(id+"."+d.name))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("destination %s: kafka client: %w", d.name, err)
	}
	d.cl = cl
	return nil
}

// assignedCB reloads the destination's state: another instance may have
// delivered the partitions' events up to their commits, and recorded so.
func (d *destination) assignedCB(ctx context.Context, _ *kgo.Client, parts map[string][]int32) {
	var all map[string]map[string]*sentState
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := retry.Do(lctx, retry.Default, d.log, "read notifier state", func(ctx context.Context) error {
		var err error
		all, err = loadState(ctx, d.n.cfg.Kafka, d.log, d.n.cfg.Kafka.NotifierStateTopic)
		return err
	})
	cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ps := range parts {
		for _, p := range ps {
			d.assigned[p] = true
		}
	}
	if err != nil {
		// Keep what this instance knows; a replayed event may be sent again.
		d.log.Error("could not reload notifier state; replayed events may be sent again", "err", err)
		return
	}
	for k, s := range all[d.name] {
		if cur, ok := d.state[k]; !ok || !d.dirty[k] || cur.SentAt.Before(s.SentAt) {
			d.state[k] = s
		}
	}
}

// revokedCB drops the work of partitions taken away. Everything done was
// committed before the rebalance was allowed; the new owner starts there.
func (d *destination) revokedCB(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	gone := map[int32]bool{}
	for _, ps := range parts {
		for _, p := range ps {
			gone[p] = true
			delete(d.parts, p)
			delete(d.assigned, p)
		}
	}
	keep := func(it *item) bool { return !gone[it.rec.Partition] }
	var q []*notice
	for _, nt := range d.queue {
		if len(nt.reminders) > 0 {
			lost := false
			for _, k := range nt.alertKeys {
				if st := d.state[k]; st != nil && gone[st.Partition] {
					lost = true
				}
			}
			if lost {
				for _, k := range nt.alertKeys {
					delete(d.reminded, k)
				}
				continue
			}
			q = append(q, nt)
			continue
		}
		nt.items = slices.DeleteFunc(nt.items, func(it *item) bool { return !keep(it) })
		if len(nt.items) > 0 {
			q = append(q, nt)
		}
	}
	d.queue = q
	for _, g := range d.groups {
		g.items = slices.DeleteFunc(g.items, func(it *item) bool { return !keep(it) })
		if len(g.items) == 0 {
			g.flushAt = time.Time{}
		}
	}
}

func (d *destination) run(ctx context.Context) error {
	if err := d.connect(); err != nil {
		return err
	}
	defer d.cl.Close()
	// A destination seen for the first time (its group has committed
	// nothing) reads the alert topic from its start, but is not sent the
	// compacted history: events written more than max_age before this
	// start are settled unsent. (Starting at an offset by time would lose
	// the events written while the lookup of an empty partition resolves.)
	if err := retry.Do(ctx, retry.Default, d.log, "fetch committed offsets", func(ctx context.Context) error {
		o, err := kadm.NewClient(d.n.client).FetchOffsets(ctx, d.n.cfg.Group+"."+d.name)
		if err == nil {
			err = o.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			err, o = nil, nil // a group never seen: nothing committed
		}
		if err != nil {
			return err
		}
		fresh := true
		o.Each(func(r kadm.OffsetResponse) {
			if r.At >= 0 {
				fresh = false
			}
		})
		if fresh {
			d.freshBefore = d.n.now().Add(-d.policy.MaxAge)
			d.log.Info("new destination: events older than max_age are not sent", "before", d.freshBefore)
		}
		return nil
	}); err != nil {
		return nil // ctx ended
	}
	for {
		wait := d.wake()
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := d.cl.PollRecords(pctx, 1000)
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		if ctx.Err() != nil {
			d.cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				d.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		d.mu.Lock()
		d.ingest(ctx, fs.Records())
		now := d.n.now()
		d.flushGroups(now)
		d.queueReminders(now)
		d.sendDue(ctx)
		d.commit(ctx)
		d.mu.Unlock()
		d.cl.AllowRebalance()
		if d.status().disabled != "" {
			// Gone (410): keep the group membership, so the waiting events
			// stay uncommitted and visible as lag, and send nothing more.
			<-ctx.Done()
			return nil
		}
	}
}

// wake is how long the next poll may wait: until the next due message,
// group or reminder, at most maxIdle.
func (d *destination) wake() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.n.now()
	w := maxIdle
	for i, nt := range d.queue {
		if i == 64 {
			break
		}
		w = min(w, max(nt.next.Sub(now), d.nextSend.Sub(now)))
	}
	for _, g := range d.groups {
		if !g.flushAt.IsZero() {
			w = min(w, g.flushAt.Sub(now))
		}
	}
	return max(w, time.Millisecond)
}

// ingest decides, for each record, whether this destination sends it and
// how.
func (d *destination) ingest(ctx context.Context, recs []*kgo.Record) {
	for _, r := range recs {
		if !d.assigned[r.Partition] {
			d.assigned[r.Partition] = true
		}
		it := &item{rec: r, key: string(r.Key)}
		d.parts[r.Partition] = append(d.parts[r.Partition], it)
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			d.deadLetter(ctx, r, err)
			it.done = true
			continue
		}
		it.ev = &ev
		d.route(it)
	}
}

// deadLetter copies an undecodable alert record to the platform's
// dead-letter topic, once per destination (each reads it).
func (d *destination) deadLetter(ctx context.Context, r *kgo.Record, err error) {
	d.log.Warn("dead-lettering alert record", "partition", r.Partition, "offset", r.Offset, "reason", err)
	dl := kafka.DeadLetter(d.n.cfg.Kafka.DeadLetterTopic, r, fmt.Errorf("notifier destination %s: %w", d.name, err), d.n.now())
	d.n.produce(ctx, d.log, "produce dead letter", dl)
	d.n.metrics.deliveries.WithLabelValues(d.name, "undecodable").Inc()
}

func isOpen(s eventsv1.AlertState) bool {
	return s == eventsv1.AlertState_ALERT_STATE_DOWN || s == eventsv1.AlertState_ALERT_STATE_DEGRADED
}

func isResolve(s eventsv1.AlertState) bool {
	return s == eventsv1.AlertState_ALERT_STATE_UP || s == eventsv1.AlertState_ALERT_STATE_STALE
}

// route settles an item that is not sent (a duplicate, silenced,
// historical, not routed here) or queues or groups it.
func (d *destination) route(it *item) {
	ev := it.ev
	st := d.state[it.key]
	if st != nil && (st.seen(ev.GetEventId()) || (st.Partition == it.rec.Partition && it.rec.Offset <= st.Offset)) {
		d.settle(it, "duplicate")
		return
	}
	if it.rec.Timestamp.Before(d.freshBefore) {
		it.done = true
		d.n.metrics.deliveries.WithLabelValues(d.name, "before_first_start").Inc()
		return
	}
	d.supersede(it)
	if ev.GetHistorical() {
		// Found late (a restore): recorded in the history, never paged.
		d.settle(it, "historical")
		return
	}
	if st != nil && st.Open && isResolve(ev.GetState()) {
		// Whatever happens to this event, reminders stop.
		st.Open = false
		d.dirty[it.key] = true
	}
	if ev.GetSilenced() {
		d.settle(it, "silenced")
		d.log.Info("not delivering silenced transition", "check", ev.GetCheckId(), "rule", ev.GetRule(),
			"state", deliver.StateLabel(ev.GetState()), "silence", ev.GetSilence())
		return
	}
	labels := d.n.labels(ev.GetCheckId())
	r := route(d.n.cfg.Routes, d.name, ev, labels)
	switch {
	case r == nil:
		d.settle(it, "unrouted")
		return
	case ev.GetState() == eventsv1.AlertState_ALERT_STATE_STALE && !isOpen(ev.GetPreviousState()),
		ev.GetPreviousState() == eventsv1.AlertState_ALERT_STATE_STALE && ev.GetState() == eventsv1.AlertState_ALERT_STATE_UP:
		// Stopped reporting while up, or reporting again and fine: it
		// neither opens nor closes an alert.
		d.settle(it, "not_alerting")
		return
	case isResolve(ev.GetState()) && isOpen(ev.GetPreviousState()) && !r.sendResolved():
		d.settle(it, "resolved_not_sent")
		return
	}
	if r.GroupWait <= 0 {
		d.queue = append(d.queue, &notice{items: []*item{it}, born: it.rec.Timestamp})
		return
	}
	key, vals := r.groupKey(ev, labels)
	g := d.groups[key]
	if g == nil {
		g = &group{route: r, vals: vals}
		d.groups[key] = g
	}
	g.items = append(g.items, it)
	if g.flushAt.IsZero() {
		now := d.n.now()
		g.flushAt = now.Add(r.GroupWait)
		if !g.lastSent.IsZero() && r.GroupInterval > 0 {
			g.flushAt = maxTime(g.flushAt, g.lastSent.Add(r.GroupInterval))
		}
	}
}

// supersede settles the items of it's alert that came before it and still
// wait in a group. Flushed after it (their group's group_wait or
// group_interval ends later than its route's), they would page for the past:
// a down after its up, a new PagerDuty incident for an alert already
// resolved. As in Alertmanager, a group shows the alert's newest state. The
// queue needs nothing: it sends an alert's messages in order.
func (d *destination) supersede(it *item) {
	retire := func(items []*item) []*item {
		return slices.DeleteFunc(items, func(o *item) bool {
			if o == it || o.done || o.key != it.key {
				return false
			}
			d.settle(o, "superseded")
			return true
		})
	}
	for _, g := range d.groups {
		g.items = retire(g.items)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// settle marks an item done without sending it, counting why.
func (d *destination) settle(it *item, outcome string) {
	it.done = true
	d.n.metrics.deliveries.WithLabelValues(d.name, outcome).Inc()
	if outcome != "unrouted" && outcome != "duplicate" {
		d.n.record(d.name, "", it.ev, 0, outcome, 0, "")
	}
}

func (d *destination) flushGroups(now time.Time) {
	for k, g := range d.groups {
		if len(g.items) == 0 && now.Sub(g.lastSent) > max(g.route.GroupInterval, g.route.GroupWait) {
			delete(d.groups, k) // nothing to wait for: a group is kept only while it times something
			continue
		}
		if g.flushAt.IsZero() || now.Before(g.flushAt) || len(g.items) == 0 {
			continue
		}
		born := g.items[0].rec.Timestamp
		for _, it := range g.items {
			if it.rec.Timestamp.Before(born) {
				born = it.rec.Timestamp
			}
		}
		var vals map[string]string
		if len(g.vals) > 0 {
			vals = g.vals
		}
		d.queue = append(d.queue, &notice{items: g.items, group: vals, born: born})
		g.items, g.flushAt, g.lastSent = nil, time.Time{}, now
	}
}

// queueReminders queues a reminder for every open alert of an assigned
// partition whose route repeats and whose last message is repeat_interval
// old, unless an event of that alert is waiting.
func (d *destination) queueReminders(now time.Time) {
	if len(d.state) == 0 {
		return
	}
	waiting := map[string]bool{}
	for _, its := range d.parts {
		for _, it := range its {
			if !it.done {
				waiting[it.key] = true
			}
		}
	}
	grouped := map[string]*notice{}
	var order []string
	for _, key := range slices.Sorted(maps.Keys(d.state)) {
		st := d.state[key]
		if !st.Open || d.reminded[key] || waiting[key] || !d.assigned[st.Partition] {
			continue
		}
		ev, err := st.event()
		if err != nil {
			continue
		}
		r := route(d.n.cfg.Routes, d.name, ev, d.n.labels(ev.GetCheckId()))
		if r == nil || r.RepeatInterval <= 0 || now.Sub(st.SentAt) < r.RepeatInterval {
			continue
		}
		d.reminded[key] = true
		if r.GroupWait <= 0 {
			d.queue = append(d.queue, &notice{reminders: []*eventsv1.AlertStateChanged{ev}, alertKeys: []string{key},
				repeat: st.Repeat + 1, born: now})
			continue
		}
		// Alerts sent in one group message become due together: they are
		// reminded in one message too, not one each.
		gk, vals := r.groupKey(ev, d.n.labels(ev.GetCheckId()))
		gk += fmt.Sprintf("\x00r%d", st.Repeat+1)
		nt := grouped[gk]
		if nt == nil {
			nt = &notice{repeat: st.Repeat + 1, born: now}
			if len(vals) > 0 {
				nt.group = vals
			}
			grouped[gk] = nt
			order = append(order, gk)
		}
		nt.reminders = append(nt.reminders, ev)
		nt.alertKeys = append(nt.alertKeys, key)
	}
	for _, gk := range order {
		nt := grouped[gk]
		// The same alerts give the same message key after a restart.
		sort.Sort(byEventID{nt.reminders, nt.alertKeys})
		d.queue = append(d.queue, nt)
	}
}

// byEventID sorts a grouped reminder's events (and their alert keys).
type byEventID struct {
	evs  []*eventsv1.AlertStateChanged
	keys []string
}

func (b byEventID) Len() int           { return len(b.evs) }
func (b byEventID) Less(i, j int) bool { return b.evs[i].GetEventId() < b.evs[j].GetEventId() }
func (b byEventID) Swap(i, j int) {
	b.evs[i], b.evs[j] = b.evs[j], b.evs[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

// sendDue sends the messages that are due for at most maxRound: up to
// `concurrency` at a time, never two of one alert at once nor one before an
// earlier one of the same alert. A slot freed by an answer is filled at
// once, and the rate limit spaces the starts of requests, not rounds of
// them, so a slow destination with a rate limit still has `concurrency`
// requests open. While the destination is failing, only the oldest message
// is tried (the others wait behind it), so a dead destination gets one
// request per backoff, not one per waiting message. Messages polled while
// a round runs wait for the next: a round starts requests for maxRound and
// then waits for the open ones' answers (bounded by the sink's timeout).
func (d *destination) sendDue(ctx context.Context) {
	type answer struct {
		nt  *notice
		r   sendResult
		now time.Time
	}
	limit := max(d.policy.Concurrency, 1)
	answers := make(chan answer, limit)
	inFlight := 0
	start := time.Now()
	for {
		var rateWait time.Duration
		if time.Since(start) < maxRound && ctx.Err() == nil && d.status().disabled == "" {
			now := d.n.now()
			var batch []*notice
			batch, rateWait = d.pickDue(now, limit-inFlight)
			for _, nt := range batch {
				nt.sending = true
				inFlight++
				go func() { answers <- answer{nt, d.send(ctx, nt), now} }()
			}
		}
		if inFlight == 0 {
			break // the poll loop wakes for the next due message (wake)
		}
		var a answer
		if rateWait > 0 {
			t := time.NewTimer(rateWait)
			select {
			case a = <-answers:
				t.Stop()
			case <-t.C:
				continue // the next start is due
			}
		} else {
			a = <-answers
		}
		inFlight--
		a.nt.sending = false
		a.nt.finished = d.handle(ctx, a.nt, a.r, a.now)
		d.writeState(ctx)
		d.queue = slices.DeleteFunc(d.queue, func(nt *notice) bool { return nt.finished })
	}
	d.queue = slices.DeleteFunc(d.queue, func(nt *notice) bool { return nt.finished })
	if len(d.queue) == 0 && d.status().disabled == "" {
		// Nothing waits: whatever failed was parked; not stalled.
		d.setStatus(func() { d.failingSince, d.lastErr = time.Time{}, "" })
	}
}

// pickDue chooses, in queue order, up to slots messages to start now. When
// the rate limit holds back a message that is otherwise due, rateWait says
// how long until the next start is allowed.
func (d *destination) pickDue(now time.Time, slots int) (out []*notice, rateWait time.Duration) {
	strict := max(d.policy.Concurrency, 1) == 1
	if !d.status().failingSince.IsZero() {
		// Failing: only the oldest message is tried, alone.
		strict = true
		for _, nt := range d.queue {
			if nt.sending {
				return nil, 0
			}
		}
		slots = min(slots, 1)
	}
	blocked := map[string]bool{}
	for _, nt := range d.queue {
		if len(out) >= slots {
			break
		}
		if nt.finished {
			continue
		}
		if !nt.sending && d.dropDuplicates(nt) {
			nt.finished = true
			continue
		}
		keys := nt.keys()
		free := !nt.sending
		for _, k := range keys {
			free = free && !blocked[k]
			blocked[k] = true
		}
		if !free || now.Before(nt.next) {
			if strict {
				break // failing, or one at a time: strictly in order
			}
			continue
		}
		if d.policy.RatePerSecond > 0 {
			if now.Before(d.nextSend) {
				return out, d.nextSend.Sub(now)
			}
			d.nextSend = now.Add(time.Duration(float64(time.Second) / d.policy.RatePerSecond))
		}
		out = append(out, nt)
	}
	return out, 0
}

func (nt *notice) keys() []string {
	if len(nt.reminders) > 0 {
		return nt.alertKeys
	}
	keys := make([]string, len(nt.items))
	for i, it := range nt.items {
		keys[i] = it.key
	}
	return keys
}

// dropDuplicates settles the items of nt already handled since they were
// queued (an event the aggregator re-emitted within one poll); it reports
// whether nothing is left to send.
func (d *destination) dropDuplicates(nt *notice) bool {
	if len(nt.reminders) > 0 {
		return false
	}
	nt.items = slices.DeleteFunc(nt.items, func(it *item) bool {
		if st := d.state[it.key]; st != nil && st.seen(it.ev.GetEventId()) {
			d.settle(it, "duplicate")
			return true
		}
		return false
	})
	return len(nt.items) == 0
}

// sendResult is what one attempt got.
type sendResult struct {
	n       deliver.Notification
	err     error
	latency time.Duration
	// parkOnly: nothing was sent, nt's parking is due again.
	parkOnly bool
}

// send makes one attempt at nt; it touches nothing shared, so that several
// run at once.
func (d *destination) send(ctx context.Context, nt *notice) sendResult {
	if nt.parkReason != "" {
		return sendResult{parkOnly: true}
	}
	n := deliver.Notification{Events: nt.events(), Group: nt.group, Repeat: nt.repeat, Labels: d.n.labelsFor(nt.events())}
	t0 := time.Now()
	// Not cancelled by shutdown: a request the receiver may already have
	// taken is seen to its answer (the sink's timeout bounds it), so a
	// graceful stop sends nothing twice.
	err := d.sink.Send(context.WithoutCancel(ctx), n)
	return sendResult{n: n, err: err, latency: time.Since(t0)}
}

// handle records what an attempt at nt got. It reports whether nt is
// finished with (delivered or parked); false leaves it queued for its next
// attempt.
func (d *destination) handle(ctx context.Context, nt *notice, r sendResult, now time.Time) bool {
	if r.parkOnly {
		return d.park(ctx, nt, now, nt.parkReason)
	}
	n, err, latency := r.n, r.err, r.latency
	if err != nil && ctx.Err() != nil {
		return false // shutting down: not done, not committed, sent again later
	}
	key := n.Key()
	nt.attempts++
	outcome, retryAfter := deliver.Classify(err)
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	for _, ev := range n.Events {
		d.n.record(d.name, key, ev, nt.attempts, outcome.String(), latency, errText)
	}
	switch outcome {
	case deliver.Delivered:
		d.n.metrics.deliveries.WithLabelValues(d.name, "delivered").Inc()
		d.n.metrics.latency.WithLabelValues(d.name).Observe(latency.Seconds())
		d.log.Info("delivered", "key", key, "events", len(n.Events), "attempt", nt.attempts, "repeat", nt.repeat)
		d.finish(nt, now, true)
		d.setStatus(func() { d.failingSince, d.lastErr = time.Time{}, "" })
		return true
	case deliver.Gone:
		d.n.metrics.disabled.WithLabelValues(d.name).Set(1)
		d.log.Error("destination is gone (410): disabled; its events stay in the alert topic, uncommitted", "err", errText)
		d.setStatus(func() {
			d.disabled = "disabled: the destination answered 410 Gone: " + errText
			if d.failingSince.IsZero() {
				d.failingSince = now
			}
		})
		return false
	case deliver.Permanent:
		return d.park(ctx, nt, now, "rejected: "+errText)
	}
	nt.lastErr = err
	d.setStatus(func() {
		if d.failingSince.IsZero() {
			d.failingSince = now
		}
		d.lastErr = errText
	})
	if nt.attempts >= d.policy.MaxAttempts || now.Sub(nt.born) >= d.policy.MaxAge {
		return d.park(ctx, nt, now, fmt.Sprintf("gave up after %d attempts over %s: %s", nt.attempts, now.Sub(nt.born).Round(time.Millisecond), errText))
	}
	backoff := d.backoff(nt.attempts)
	nt.next = now.Add(max(backoff, retryAfter))
	d.n.metrics.deliveries.WithLabelValues(d.name, "retried").Inc()
	d.log.Warn("delivery failed; will retry", "key", key, "attempt", nt.attempts, "in", nt.next.Sub(now), "err", errText)
	return false
}

// backoff is the wait after the n-th failed attempt: exponential, capped,
// with jitter in its upper half so destinations recovering together are not
// hit in step.
func (d *destination) backoff(n int) time.Duration {
	b := d.policy.BackoffInitial
	for i := 1; i < n && b < d.policy.BackoffMax; i++ {
		b *= 2
	}
	b = min(b, d.policy.BackoffMax)
	return b/2 + time.Duration(d.rnd.Int64N(int64(b/2)+1))
}

// finish records nt done: its items are done, and the state says what was
// sent (delivered) or that they were handled (parked).
func (d *destination) finish(nt *notice, now time.Time, delivered bool) {
	if len(nt.reminders) > 0 {
		for _, k := range nt.alertKeys {
			delete(d.reminded, k)
			if st := d.state[k]; st != nil {
				st.SentAt = now
				if delivered {
					st.Repeat = nt.repeat
				}
				d.dirty[k] = true
			}
		}
		return
	}
	for _, it := range nt.items {
		it.done = true
		st := d.state[it.key]
		if st == nil {
			st = &sentState{Destination: d.name, Key: it.key}
			d.state[it.key] = st
		}
		st.Partition, st.Offset = it.rec.Partition, it.rec.Offset
		st.remember(it.ev.GetEventId())
		if delivered {
			st.Open = isOpen(it.ev.GetState())
			st.Event, st.Repeat, st.SentAt = nil, 0, now
			if st.Open {
				st.Event, _ = proto.Marshal(it.ev)
			}
		} else if isResolve(it.ev.GetState()) {
			st.Open = false
		}
		d.dirty[it.key] = true
	}
}

// Park headers, beside the alert record's own.
const (
	HeaderParkDestination = "picket-notify-destination"
	HeaderParkReason      = "picket-notify-reason"
	HeaderParkAttempts    = "picket-notify-attempts"
	HeaderParkKey         = "picket-notify-key"
	HeaderParkSource      = "picket-notify-source" // topic/partition/offset
)

// park writes nt's events to the park topic, with why, and finishes nt; it
// reports whether it did. A reminder is not parked: the next one follows
// repeat_interval later.
func (d *destination) park(ctx context.Context, nt *notice, now time.Time, reason string) bool {
	outcome := "parked"
	if strings.HasPrefix(reason, "rejected: ") {
		outcome = "rejected" // refused for good (3xx, 4xx); parked all the same
	}
	n := deliver.Notification{Events: nt.events(), Group: nt.group, Repeat: nt.repeat}
	key := n.Key()
	d.log.Error("parking notification", "key", key, "events", len(n.Events), "attempts", nt.attempts, "reason", reason)
	if len(nt.reminders) == 0 {
		var recs []*kgo.Record
		for _, it := range nt.items {
			hs := append([]kgo.RecordHeader(nil), it.rec.Headers...)
			hs = append(hs,
				kgo.RecordHeader{Key: HeaderParkDestination, Value: []byte(d.name)},
				kgo.RecordHeader{Key: HeaderParkReason, Value: []byte(truncate(reason, 1024))},
				kgo.RecordHeader{Key: HeaderParkAttempts, Value: []byte(strconv.Itoa(nt.attempts))},
				kgo.RecordHeader{Key: HeaderParkKey, Value: []byte(key)},
				kgo.RecordHeader{Key: HeaderParkSource, Value: fmt.Appendf(nil, "%s/%d/%d", it.rec.Topic, it.rec.Partition, it.rec.Offset)},
			)
			recs = append(recs, &kgo.Record{Topic: d.n.cfg.Kafka.NotifyDeadLetterTopic, Key: []byte(d.name), Value: it.rec.Value,
				Headers: hs, Timestamp: now})
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		ok := d.n.produce(pctx, d.log, "park", recs...)
		cancel()
		if !ok {
			// Not finished: the parking alone is tried again after a
			// backoff (a restart sends it again: at most this one twice).
			nt.parkReason = reason
			nt.next = now.Add(d.backoff(nt.attempts))
			return false
		}
	}
	d.n.metrics.deliveries.WithLabelValues(d.name, outcome).Inc()
	for _, ev := range n.Events {
		d.n.record(d.name, key, ev, nt.attempts, "parked", 0, reason)
	}
	d.finish(nt, now, false)
	d.writeState(ctx)
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// writeState writes the changed state records; it reports whether they are
// durable. It runs after every message, so that a crash sends at most the
// one message in flight again.
func (d *destination) writeState(ctx context.Context) bool {
	if len(d.dirty) == 0 {
		return true
	}
	var recs []*kgo.Record
	for k := range d.dirty {
		r, err := d.state[k].record(d.n.cfg.Kafka.NotifierStateTopic)
		if err != nil {
			d.log.Error("state record", "err", err)
			continue
		}
		recs = append(recs, r)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !d.n.produce(wctx, d.log, "write notifier state", recs...) {
		return false
	}
	clear(d.dirty)
	return true
}

// commit writes the state changed this round, then commits, per partition,
// the offsets of the records done up to the first one that is not.
func (d *destination) commit(ctx context.Context) {
	if !d.writeState(ctx) {
		return // not committed: what was done is sent again after a restart
	}
	var done []*kgo.Record
	for p, its := range d.parts {
		i := 0
		for i < len(its) && its[i].done {
			i++
		}
		if i > 0 {
			done = append(done, its[i-1].rec)
			d.parts[p] = its[i:]
		}
	}
	if len(done) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.cl.CommitRecords(cctx, done...); err != nil {
		// Not lost: the state topic says these were done.
		d.log.Warn("commit failed; the state topic keeps them from being sent again", "err", err)
	}
}

type destStatus struct {
	failingSince time.Time
	lastErr      string
	disabled     string
}

func (d *destination) status() destStatus {
	d.smu.Lock()
	defer d.smu.Unlock()
	return destStatus{d.failingSince, d.lastErr, d.disabled}
}

func (d *destination) setStatus(f func()) {
	d.smu.Lock()
	defer d.smu.Unlock()
	f()
}

// Stalled is how long the destination has failed without progress, once
// that is stall_after or more (or since it was disabled); 0 while it
// delivers.
func (d *destination) Stalled() time.Duration {
	s := d.status()
	if s.failingSince.IsZero() {
		return 0
	}
	age := d.n.now().Sub(s.failingSince)
	if s.disabled == "" && age < d.policy.StallAfter {
		return 0
	}
	return age
}

// Ready is nil unless the destination is stalled or disabled; then it says
// since when and why.
func (d *destination) Ready(context.Context) error {
	age := d.Stalled()
	if age == 0 {
		return nil
	}
	s := d.status()
	if s.disabled != "" {
		return fmt.Errorf("%s (for %s)", s.disabled, age.Round(time.Second))
	}
	return fmt.Errorf("not delivering for %s, retrying: %s", age.Round(time.Second), s.lastErr)
}
