package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"

	"github.com/picket-dev/picket/platform/poll"
)

// A notification the destination refused is parked; when parking fails
// (the park topic is away), only the parking is tried again: the refused
// request is never sent again.
func TestFailedParkingRetriesParkingNotTheSend(t *testing.T) {
	e := newEnv(t)
	adm := kadm.NewClient(e.cl)
	if _, err := adm.DeleteTopics(context.Background(), e.cfg.Kafka.NotifyDeadLetterTopic); err != nil {
		t.Fatal(err)
	}
	e.cfg.Kafka.CreateTopics = false // the park topic stays away until the test makes it
	r := newRecv(t)
	r.setFail(http.StatusBadRequest)
	e.start(sinksFor([]*recv{r}), Options{})
	e.produce(alertEvent("e1", "c1", down))
	poll.Until(t, 20*time.Second, "the refused request", func() (bool, string) {
		return requests(r) >= 1, fmt.Sprint(requests(r))
	})
	// The first parking fails after its produce timeout (10 s) and is
	// tried again; the destination must not be asked again meanwhile.
	poll.Until(t, 40*time.Second, "a second try at parking", func() (bool, string) {
		n := strings.Count(e.logs.String(), "parking notification")
		return n >= 2, fmt.Sprintf("%d tries", n)
	})
	if _, err := adm.CreateTopic(context.Background(), e.cfg.Kafka.Partitions, 1, nil, e.cfg.Kafka.NotifyDeadLetterTopic); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 40*time.Second, "the event parked once the topic is back", func() (bool, string) {
		p := e.parked()
		return p["e1"] != nil, fmt.Sprint(len(p))
	})
	if n := requests(r); n != 1 {
		t.Fatalf("the destination got %d requests for one refused notification, want 1", n)
	}
}

// requests counts every request r answered, refused ones included.
func requests(r *recv) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

// recordingSink records the notifications it is given.
type recordingSink struct {
	mu   sync.Mutex
	sent []deliver.Notification
}

func (s *recordingSink) Name() string { return "d0" }
func (s *recordingSink) Kind() string { return "webhook" }
func (s *recordingSink) Send(_ context.Context, n deliver.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, n)
	return nil
}

// A parked group goes out again as the one notification it was, under its
// key: sent one by one under that key, a receiver dropping repeated
// webhook-ids would keep only the first event. A single parked event keeps
// its own key.
func TestRedriveSendsAParkedGroupAsOneNotification(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	var recs []*kgo.Record
	park := func(id, key string) {
		r := alertRecord(t, e.cfg.Kafka.NotifyDeadLetterTopic, id, down, now)
		r.Key = []byte("d0")
		r.Timestamp = now
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderParkKey, Value: []byte(key)})
		recs = append(recs, r)
	}
	park("g1", "grp_abc")
	park("g2", "grp_abc")
	park("g3", "grp_abc")
	park("g2", "grp_abc") // parked twice: sent once
	park("s1", "s1")
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	res, err := Redrive(context.Background(), e.cfg, slog.New(slog.DiscardHandler), sink, now.Add(-time.Minute), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 4 || res.Failed != 0 {
		t.Fatalf("redrive: %+v, want 4 events sent", res)
	}
	var got []string
	for _, n := range sink.sent {
		var ids []string
		for _, ev := range n.Events {
			ids = append(ids, ev.GetEventId())
		}
		got = append(got, n.Key()+":"+strings.Join(ids, ","))
	}
	if want := []string{"grp_abc:g1,g2,g3", "s1:s1"}; !slices.Equal(got, want) {
		t.Fatalf("redriven %q, want %q", got, want)
	}
}

// An alert's older transition still waiting (its route's group_wait) when a
// newer one arrives is not sent after it: the receiver is never paged for
// the past (a down after its up).
func TestANewerTransitionSupersedesAnOlderOneStillWaiting(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	e.cfg.Routes = []RouteConfig{
		{Match: RouteMatch{States: []string{"down"}}, Destinations: []string{"d0"}, GroupWait: time.Minute},
		{Destinations: []string{"d0"}},
	}
	clock := &fakeClock{t: time.Now()}
	n, _ := e.start(sinksFor([]*recv{rc}), Options{Now: clock.now})
	waiting := func() int {
		d := n.dests[0]
		d.mu.Lock()
		defer d.mu.Unlock()
		c := 0
		for _, g := range d.groups {
			c += len(g.items)
		}
		return c
	}
	e.produce(alertEvent("d1", "api", down))
	poll.Until(t, 20*time.Second, "the down waiting in its group", func() (bool, string) { return waiting() == 1, fmt.Sprint(waiting()) })
	e.produce(alertEvent("u1", "api", eventsv1.AlertState_ALERT_STATE_UP))
	poll.Until(t, 20*time.Second, "the up delivered", func() (bool, string) {
		return rc.eventsGot()["u1"] == 1, fmt.Sprint(rc.eventsGot())
	})
	clock.add(2 * time.Minute) // the down's group_wait is over
	poll.Until(t, 20*time.Second, "no group waiting", func() (bool, string) { return waiting() == 0, fmt.Sprint(waiting()) })
	poll.Until(t, 20*time.Second, "everything committed", func() (bool, string) {
		c := e.committed("d0")
		return c == 2, fmt.Sprint(c)
	})
	if got := rc.eventsGot(); got["d1"] != 0 || got["u1"] != 1 {
		t.Fatalf("the receiver got %v: the down was sent after its up", got)
	}
}
