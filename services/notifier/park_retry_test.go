package notifier

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

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
