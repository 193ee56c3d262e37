package notifier

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

const (
	down     = eventsv1.AlertState_ALERT_STATE_DOWN
	up       = eventsv1.AlertState_ALERT_STATE_UP
	degraded = eventsv1.AlertState_ALERT_STATE_DEGRADED
	stale    = eventsv1.AlertState_ALERT_STATE_STALE
)

// Every event reaches the destination once and in order: a receiver failing
// twice then succeeding gets the event once, on the third attempt; a
// rejection (400) is parked and does not block the events behind it; an
// event re-emitted by the aggregator is not sent again; silenced and
// historical transitions are recorded, not sent; stale after down is sent
// as a resolve, stale after up is not. The offsets are committed once all
// of it is done.
func TestNotifierDeliversEachEventOnce(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	rc.script = map[string][]int{"e2": {503, 502}, "e3": {400}}
	dl := &memLog{}
	e.start(sinksFor([]*recv{rc}), Options{DeliveryLog: dl})
	evs := []*eventsv1.AlertStateChanged{
		alertEvent("e1", "api", down),
		alertEvent("e2", "api", up),
		alertEvent("e3", "api", down),
		alertEvent("e1", "api", down), // re-emitted by an aggregator restart
		alertEvent("e4", "api", up),
		alertEvent("e5", "api", down, func(ev *eventsv1.AlertStateChanged) { ev.Silenced, ev.Silence = true, "db-maintenance" }),
		alertEvent("e6", "api", down, func(ev *eventsv1.AlertStateChanged) { ev.Historical = true }),
		alertEvent("e7", "web", stale, func(ev *eventsv1.AlertStateChanged) { ev.PreviousState = up }),
		alertEvent("e8", "db", stale, func(ev *eventsv1.AlertStateChanged) { ev.PreviousState = degraded }),
	}
	e.produce(evs...)
	poll.Until(t, 20*time.Second, "every offset committed", func() (bool, string) {
		c := e.committed("d0")
		return c == int64(len(evs)), fmt.Sprintf("%d of %d", c, len(evs))
	})
	var ids []string
	for _, g := range rc.received() {
		ids = append(ids, g.Events...)
		if g.webhookID != g.Events[0] {
			t.Errorf("webhook-id %q for event %s", g.webhookID, g.Events[0])
		}
	}
	if fmt.Sprint(ids) != "[e1 e2 e4 e8]" {
		t.Fatalf("delivered %v, want [e1 e2 e4 e8] (e3 rejected, e5 silenced, e6 historical, e7 stale after up)", ids)
	}
	rc.mu.Lock()
	calls := fmt.Sprint(rc.calls)
	rc.mu.Unlock()
	if calls != "map[e1:1 e2:3 e3:1 e4:1 e8:1]" {
		t.Fatalf("calls %s: want e2 three times (two 5xx), e3 once (400 is final), the others once", calls)
	}
	if got := dl.statuses(); got["e2"] != "retry retry delivered" || got["e3"] != "permanent parked" ||
		got["e5"] != "silenced" || got["e6"] != "historical" || got["e7"] != "not_alerting" || got["e1"] != "delivered" {
		t.Errorf("delivery log %v", got)
	}
	p := e.parked()
	if h := p["e3"]; h[HeaderParkDestination] != "d0" || !strings.Contains(h[HeaderParkReason], "rejected") || h[HeaderParkKey] != "e3" {
		t.Fatalf("parked %v: want e3 parked for d0 as rejected", p)
	}
	noSecrets(t, e.logs)
}

// One destination down for longer than max_age: its events are parked with
// the reason, it is reported stalled (/readyz, metric) on its own; the other
// destinations get every event, as fast as with all destinations up.
func TestDeadDestinationIsParkedAndDelaysNoOther(t *testing.T) {
	e := newEnv(t)
	e.cfg.Delivery.Policy.MaxAge = time.Second
	e.cfg.Delivery.Policy.StallAfter = 100 * time.Millisecond
	rs := []*recv{newRecv(t), newRecv(t), newRecv(t)}
	rs[2].setFail(http.StatusServiceUnavailable)
	n, _ := e.start(sinksFor(rs), Options{})

	const events = 30
	produced := map[string]time.Time{}
	for i := range events {
		id := fmt.Sprintf("e%02d", i)
		produced[id] = time.Now()
		e.produce(alertEvent(id, fmt.Sprintf("c%d", i), down))
	}
	for _, r := range rs[:2] {
		poll.Until(t, 20*time.Second, "healthy destinations got every event", func() (bool, string) {
			return len(r.eventsGot()) == events, fmt.Sprint(len(r.eventsGot()))
		})
	}
	// Latency from produce to receipt, on the healthy destinations: the
	// dead one retrying (10-50 ms backoff, 1 s max_age) must not show.
	var worst time.Duration
	for _, r := range rs[:2] {
		for _, g := range r.received() {
			worst = max(worst, g.at.Sub(produced[g.Events[0]]))
		}
	}
	if bound := 250 * time.Millisecond; worst > bound {
		t.Errorf("a healthy destination took up to %s from produce to POST, bound %s", worst, bound)
	}
	t.Logf("healthy destinations: worst produce-to-POST latency %s", worst)

	poll.Until(t, 20*time.Second, "the dead destination reported stalled, the others ok", func() (bool, string) {
		err := n.Checks()["destination d2"](context.Background())
		var others []error
		for _, name := range []string{"destination d0", "destination d1", "kafka"} {
			if err := n.Checks()[name](context.Background()); err != nil {
				others = append(others, err)
			}
		}
		ok := err != nil && strings.Contains(err.Error(), "503") && n.dests[2].Stalled() > 0 &&
			len(others) == 0 && n.dests[0].Stalled() == 0 && n.dests[1].Stalled() == 0
		return ok, fmt.Sprintf("d2: %v (%s), others: %v", err, n.dests[2].Stalled(), others)
	})
	poll.Until(t, 30*time.Second, "every event parked for d2", func() (bool, string) {
		return len(e.parked()) == events && e.committed("d2") == events, fmt.Sprintf("%d parked, %d committed", len(e.parked()), e.committed("d2"))
	})
	for id, h := range e.parked() {
		if h[HeaderParkDestination] != "d2" || !strings.Contains(h[HeaderParkReason], "gave up after") || !strings.Contains(h[HeaderParkReason], "503") {
			t.Fatalf("%s parked with %v", id, h)
		}
	}
	if got := rs[2].eventsGot(); len(got) != 0 {
		t.Fatalf("the dead destination accepted %v", got)
	}

	// Redrive once it is back: every parked event once, same webhook-id.
	rs[2].setFail(0)
	res, err := Redrive(context.Background(), e.cfg, n.log, n.dests[2].sink, time.Now().Add(-time.Hour), time.Time{})
	if err != nil || res.Sent != events || res.Failed != 0 {
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	for _, g := range rs[2].received() {
		if g.webhookID != g.Events[0] {
			t.Fatalf("redriven %s with webhook-id %s", g.Events[0], g.webhookID)
		}
	}
	if len(rs[2].eventsGot()) != events {
		t.Fatalf("redrive delivered %d events, want %d", len(rs[2].eventsGot()), events)
	}
	noSecrets(t, e.logs)
}

// A 410 disables the destination: nothing more is sent to it, it says so in
// /readyz and the metric, and its events stay uncommitted (not lost).
func TestGoneDisablesDestination(t *testing.T) {
	e := newEnv(t)
	rs := []*recv{newRecv(t), newRecv(t)}
	rs[1].setFail(http.StatusGone)
	n, _ := e.start(sinksFor(rs), Options{})
	e.produce(alertEvent("a", "api", down), alertEvent("b", "web", down))
	poll.Until(t, 20*time.Second, "d1 disabled", func() (bool, string) {
		err := n.Checks()["destination d1"](context.Background())
		return err != nil && strings.Contains(err.Error(), "410"), fmt.Sprint(err)
	})
	poll.Until(t, 20*time.Second, "d0 delivered both", func() (bool, string) {
		return len(rs[0].eventsGot()) == 2, fmt.Sprint(rs[0].eventsGot())
	})
	rs[1].mu.Lock()
	calls := len(rs[1].calls)
	rs[1].mu.Unlock()
	if calls != 1 || e.committed("d1") != 0 {
		t.Fatalf("d1 got %d requests, committed %d: want 1 request and nothing committed", calls, e.committed("d1"))
	}
	noSecrets(t, e.logs)
}

// Storm control: 50 checks failing within group_wait give one message per
// destination naming every check.
func TestGroupingSendsOneMessagePerDestination(t *testing.T) {
	e := newEnv(t)
	rs := []*recv{newRecv(t), newRecv(t)}
	e.cfg.Routes = []RouteConfig{{Destinations: []string{"d0", "d1"}, GroupBy: []string{"rule"}, GroupWait: 500 * time.Millisecond}}
	e.start(sinksFor(rs), Options{})
	var evs []*eventsv1.AlertStateChanged
	for i := range 50 {
		evs = append(evs, alertEvent(fmt.Sprintf("g%02d", i), fmt.Sprintf("check-%02d", i), down))
	}
	e.produce(evs...)
	for _, r := range rs {
		poll.Until(t, 20*time.Second, "the group message", func() (bool, string) {
			return len(r.received()) > 0, "none yet"
		})
	}
	poll.Until(t, 20*time.Second, "committed", func() (bool, string) {
		return e.committed("d0") == 50 && e.committed("d1") == 50, fmt.Sprint(e.committed("d0"), e.committed("d1"))
	})
	for i, r := range rs {
		got := r.received()
		if len(got) != 1 || len(got[0].Checks) != 50 || got[0].Group["rule"] != "availability" || !strings.HasPrefix(got[0].webhookID, "grp_") {
			t.Fatalf("d%d got %d messages (%+v), want one naming 50 checks", i, len(got), got)
		}
		checks := slices.Clone(got[0].Checks)
		slices.Sort(checks)
		if checks[0] != "check-00" || checks[49] != "check-49" || len(slices.Compact(checks)) != 50 {
			t.Fatalf("d%d: checks %v", i, checks)
		}
	}
	noSecrets(t, e.logs)
}

// fakeClock is a clock tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// Reminders come every repeat_interval while an alert stays open, survive a
// restart without repeating, and stop at the resolve, which is sent.
func TestRemindersAcrossRestart(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	e.cfg.Routes = []RouteConfig{{Destinations: []string{"d0"}, RepeatInterval: time.Hour}}
	clock := &fakeClock{t: time.Now()}
	_, stop := e.start(sinksFor([]*recv{rc}), Options{Now: clock.now})
	e.produce(alertEvent("r1", "api", down))
	poll.Until(t, 20*time.Second, "the first message", func() (bool, string) { return len(rc.received()) == 1, fmt.Sprint(len(rc.received())) })
	clock.add(time.Hour)
	poll.Until(t, 20*time.Second, "the first reminder", func() (bool, string) { return len(rc.received()) == 2, fmt.Sprint(len(rc.received())) })
	if g := rc.received()[1]; g.webhookID != "r1-r1" || g.Repeat != 1 {
		t.Fatalf("reminder %+v", g)
	}
	stop()

	// Restarted 30 minutes later: the reminder is not sent again; the next
	// one comes an hour after the first.
	clock.add(30 * time.Minute)
	n2, stop2 := e.start(sinksFor([]*recv{rc}), Options{Now: clock.now})
	poll.Until(t, 20*time.Second, "the restarted destination assigned", func() (bool, string) {
		n2.dests[0].mu.Lock()
		defer n2.dests[0].mu.Unlock()
		return len(n2.dests[0].assigned) > 0 && len(n2.dests[0].state) > 0, "not yet"
	})
	e.produce(alertEvent("other", "web", degraded)) // something to process meanwhile
	poll.Until(t, 20*time.Second, "the other check's message", func() (bool, string) { return len(rc.received()) == 3, fmt.Sprint(len(rc.received())) })
	clock.add(30 * time.Minute)
	poll.Until(t, 20*time.Second, "the second reminder", func() (bool, string) {
		for _, g := range rc.received() {
			if g.webhookID == "r1-r2" {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(rc.received()))
	})
	e.produce(alertEvent("r2", "api", up))
	poll.Until(t, 20*time.Second, "the resolve", func() (bool, string) { return rc.eventsGot()["r2"] == 1, fmt.Sprint(rc.eventsGot()) })
	clock.add(2 * time.Hour)
	stop2()
	counts := map[string]int{}
	for _, g := range rc.received() {
		counts[g.webhookID]++
	}
	// other-r1 may come with the clock's last jump: web stays degraded.
	delete(counts, "other-r1")
	delete(counts, "other-r2")
	if fmt.Sprint(counts) != "map[other:1 r1:1 r1-r1:1 r1-r2:1 r2:1]" {
		t.Fatalf("messages %v: want the alert, two reminders, the resolve, each once", counts)
	}
	noSecrets(t, e.logs)
}

// memLog keeps the delivery log in memory (the ClickHouse writer is tested
// in deliverylog).
type memLog struct {
	mu   sync.Mutex
	rows []Delivery
}

func (m *memLog) Record(d Delivery) { m.mu.Lock(); m.rows = append(m.rows, d); m.mu.Unlock() }

// statuses are each event's statuses in order, space separated.
func (m *memLog) statuses() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for _, r := range m.rows {
		out[r.EventID] = strings.TrimSpace(out[r.EventID] + " " + r.Status)
	}
	return out
}

// A storm grouped into one message is reminded in one message too, every
// repeat_interval, across a restart without repeating a reminder.
func TestGroupedStormRemindersAcrossRestart(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	e.cfg.Routes = []RouteConfig{
		{Match: RouteMatch{Checks: []string{"marker"}}, Destinations: []string{"d0"}},
		{Destinations: []string{"d0"}, GroupBy: []string{"rule"}, GroupWait: time.Minute, RepeatInterval: time.Hour},
	}
	clock := &fakeClock{t: time.Now()}
	n, stop := e.start(sinksFor([]*recv{rc}), Options{Now: clock.now})
	var evs []*eventsv1.AlertStateChanged
	for i := range 50 {
		evs = append(evs, alertEvent(fmt.Sprintf("s%02d", i), fmt.Sprintf("check-%02d", i), down))
	}
	e.produce(evs...)
	poll.Until(t, 20*time.Second, "the 50 events waiting in their group", func() (bool, string) {
		d := n.dests[0]
		d.mu.Lock()
		defer d.mu.Unlock()
		c := 0
		for _, g := range d.groups {
			c += len(g.items)
		}
		return c == 50, fmt.Sprint(c)
	})
	if len(rc.received()) != 0 {
		t.Fatalf("sent before group_wait: %d messages", len(rc.received()))
	}
	clock.add(time.Minute)
	poll.Until(t, 20*time.Second, "the group message", func() (bool, string) { return len(rc.received()) == 1, fmt.Sprint(len(rc.received())) })
	clock.add(time.Hour)
	poll.Until(t, 20*time.Second, "the group reminder", func() (bool, string) { return len(rc.received()) == 2, fmt.Sprint(len(rc.received())) })
	r1 := rc.received()[1]
	if len(r1.Events) != 50 || r1.Repeat != 1 || !strings.HasSuffix(r1.webhookID, "-r1") {
		t.Fatalf("reminder: %d events, repeat %d, id %s", len(r1.Events), r1.Repeat, r1.webhookID)
	}
	stop()

	clock.add(30 * time.Minute)
	n2, _ := e.start(sinksFor([]*recv{rc}), Options{Now: clock.now})
	poll.Until(t, 20*time.Second, "the restarted destination has its state", func() (bool, string) {
		d := n2.dests[0]
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.assigned) > 0 && len(d.state) == 50, fmt.Sprint(len(d.state))
	})
	e.produce(alertEvent("m1", "marker", down))
	poll.Until(t, 20*time.Second, "the marker", func() (bool, string) { return rc.eventsGot()["m1"] == 1, "" })
	if got := len(rc.received()); got != 3 {
		t.Fatalf("%d messages after the restart, want the group, its reminder and the marker: the reminder was repeated", got)
	}
	clock.add(30 * time.Minute)
	poll.Until(t, 20*time.Second, "the second group reminder", func() (bool, string) {
		for _, g := range rc.received() {
			if strings.HasSuffix(g.webhookID, "-r2") && len(g.Events) == 50 {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(rc.received()))
	})
	noSecrets(t, e.logs)
}

// A destination that failed, then parked what failed, with nothing waiting,
// is not stalled: stalled means events wait.
func TestParkedEverythingIsNotStalled(t *testing.T) {
	e := newEnv(t)
	e.cfg.Delivery.Policy.StallAfter = time.Millisecond
	rc := newRecv(t)
	rc.setFail(http.StatusBadRequest)
	n, _ := e.start(sinksFor([]*recv{rc}), Options{})
	e.produce(alertEvent("p1", "api", down))
	poll.Until(t, 20*time.Second, "parked and committed", func() (bool, string) {
		return len(e.parked()) == 1 && e.committed("d0") == 1, ""
	})
	if err := n.Checks()["destination d0"](context.Background()); err != nil || n.dests[0].Stalled() != 0 {
		t.Fatalf("after parking everything: %v, stalled %s", err, n.dests[0].Stalled())
	}
}

// Only transitions that open or close an alert now are paged: a historical
// one (found late by the aggregator) is not, nor a check going stale or
// reporting again while nothing was open; a stale open alert is delivered as
// its resolution. Each skip is recorded under its reason.
func TestNotifierSkipsHistoricalAndNonAlertingTransitions(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	dl := &memLog{}
	e.start(sinksFor([]*recv{rc}), Options{DeliveryLog: dl})
	event := func(id string, from, to eventsv1.AlertState, historical bool) *eventsv1.AlertStateChanged {
		return alertEvent(id, "api", to, func(ev *eventsv1.AlertStateChanged) { ev.PreviousState, ev.Historical = from, historical })
	}
	evs := []*eventsv1.AlertStateChanged{
		event("old-down", up, down, true),      // found by a restore: not paged
		event("old-up", down, up, true),        // its recovery, as old: not paged
		event("down", up, down, false),         // fresh: paged
		event("resolved", down, stale, false),  // the check stopped reporting: the open alert resolves
		event("back", stale, up, false),        // reporting again, fine: nothing to page
		event("quiet", up, stale, false),       // an up check going stale: nothing was open
		event("back-down", stale, down, false), // reporting again, failing: paged
	}
	e.produce(evs...)
	poll.Until(t, 20*time.Second, "every offset committed", func() (bool, string) {
		return e.committed("d0") == int64(len(evs)), fmt.Sprint(e.committed("d0"))
	})
	var got []string
	for _, g := range rc.received() {
		got = append(got, g.Events[0]+":"+g.States[0])
	}
	if want := "[down:down resolved:stale back-down:down]"; fmt.Sprint(got) != want {
		t.Fatalf("delivered %v, want %s", got, want)
	}
	st := dl.statuses()
	if st["old-down"] != "historical" || st["old-up"] != "historical" || st["back"] != "not_alerting" || st["quiet"] != "not_alerting" {
		t.Fatalf("delivery log %v", st)
	}
}
