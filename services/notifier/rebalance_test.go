package notifier

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/picket-dev/picket/platform/poll"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// A second instance joining and the first leaving while events flow (the
// test topic has 3 partitions) move partitions twice: every event reaches each destination exactly once.
func TestRebalancesSendEveryEventOnce(t *testing.T) {
	e := newEnv(t)
	rs := []*recv{newRecv(t), newRecv(t)}
	_, stopA := e.start(sinksFor(rs), Options{})
	const events = 120
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range events {
			e.produce(alertEvent(fmt.Sprintf("r%03d", i), fmt.Sprintf("c%d", i%23), down))
			time.Sleep(3 * time.Millisecond) // pacing, so the rebalances land mid-stream
		}
	}()
	poll.Until(t, 20*time.Second, "some deliveries", func() (bool, string) { return len(rs[0].received()) >= 20, "" })
	e.start(sinksFor(rs), Options{}) // B joins
	poll.Until(t, 20*time.Second, "more deliveries", func() (bool, string) { return len(rs[0].received()) >= 60, "" })
	stopA() // A leaves
	<-produced
	for i, r := range rs {
		poll.Until(t, 30*time.Second, fmt.Sprintf("d%d has every event", i), func() (bool, string) {
			return len(r.eventsGot()) == events, fmt.Sprint(len(r.eventsGot()))
		})
	}
	for i, r := range rs {
		for id, n := range r.eventsGot() {
			if n != 1 {
				t.Errorf("d%d got %s %d times", i, id, n)
			}
		}
	}
	noSecrets(t, e.logs)
}

// Deduplication is not in memory: with a destination's offsets reset to the
// start of the alert topic (a replay) and the notifier restarted, nothing
// already delivered is sent again; a new event is.
func TestReplayAfterRestartSendsNothingTwice(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	_, stop := e.start(sinksFor([]*recv{rc}), Options{})
	var evs []*eventsv1.AlertStateChanged
	for i := range 20 {
		evs = append(evs, alertEvent(fmt.Sprintf("x%02d", i), fmt.Sprintf("c%d", i%5), down))
	}
	e.produce(evs...)
	poll.Until(t, 20*time.Second, "committed", func() (bool, string) { return e.committed("d0") == 20, fmt.Sprint(e.committed("d0")) })
	stop()
	adm := kadm.NewClient(e.cl)
	offs, err := adm.ListStartOffsets(context.Background(), e.cfg.Kafka.AlertsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var reset kadm.Offsets
	offs.Each(func(o kadm.ListedOffset) {
		reset.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if _, err := adm.CommitOffsets(context.Background(), e.cfg.Group+".d0", reset); err != nil {
		t.Fatal(err)
	}
	if e.committed("d0") != 0 {
		t.Fatalf("offsets not reset: %d", e.committed("d0"))
	}
	e.start(sinksFor([]*recv{rc}), Options{})
	e.produce(alertEvent("new", "c9", down))
	poll.Until(t, 20*time.Second, "the replay done and the new event sent", func() (bool, string) {
		return e.committed("d0") == 21 && rc.eventsGot()["new"] == 1, fmt.Sprint(e.committed("d0"))
	})
	for id, n := range rc.eventsGot() {
		if n != 1 {
			t.Errorf("%s sent %d times after the replay", id, n)
		}
	}
	noSecrets(t, e.logs)
	if len(rc.eventsGot()) != 21 {
		t.Fatalf("got %d events, want 21", len(rc.eventsGot()))
	}
}

// A destination failing every attempt does not hold its group's rebalance:
// a second instance joining gets its share of the partitions while the
// first keeps retrying, and the retries are not lost to the move.
func TestFailingDestinationDoesNotBlockRebalance(t *testing.T) {
	e := newEnv(t)
	e.cfg.Delivery.Policy.BackoffInitial = 200 * time.Millisecond
	e.cfg.Delivery.Policy.BackoffMax = 400 * time.Millisecond
	rc := newRecv(t)
	rc.setFail(503)
	a, _ := e.start(sinksFor([]*recv{rc}), Options{})
	var evs []*eventsv1.AlertStateChanged
	for i := range 12 {
		evs = append(evs, alertEvent(fmt.Sprintf("f%02d", i), fmt.Sprintf("c%d", i), down))
	}
	e.produce(evs...)
	poll.Until(t, 20*time.Second, "the first instance retrying", func() (bool, string) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.calls) > 0, ""
	})
	b, _ := e.start(sinksFor([]*recv{rc}), Options{})
	assigned := func(n *Notifier) int {
		d := n.dests[0]
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.assigned)
	}
	poll.Until(t, 15*time.Second, "the partitions shared between both instances", func() (bool, string) {
		return assigned(a) > 0 && assigned(b) > 0 && assigned(a)+assigned(b) == 3, fmt.Sprint(assigned(a), assigned(b))
	})
	rc.setFail(0)
	poll.Until(t, 20*time.Second, "every event delivered once the destination is back", func() (bool, string) {
		return len(rc.eventsGot()) == 12 && e.committed("d0") == 12, fmt.Sprint(len(rc.eventsGot()))
	})
	for id, n := range rc.eventsGot() {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}
