package notifier

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/poll"
)

// Routes match the checks' labels, read from the check-definitions topic,
// and group_by groups by them.
func TestRoutesMatchAndGroupByCheckLabels(t *testing.T) {
	e := newEnv(t)
	for id, team := range map[string]string{"pay-api": "payments", "pay-db": "payments", "search": "discovery"} {
		def := fmt.Sprintf("id: %s\nname: %s\nlabels:\n  team: %s\n", id, id, team)
		if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: e.cfg.Kafka.ChecksTopic, Key: []byte(id), Value: []byte(def)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rs := []*recv{newRecv(t), newRecv(t)}
	e.cfg.Routes = []RouteConfig{
		{Match: RouteMatch{Labels: map[string]string{"team": "payments"}}, Destinations: []string{"d0"}, Continue: true},
		{Destinations: []string{"d1"}, GroupBy: []string{"team"}, GroupWait: 300 * time.Millisecond},
	}
	e.start(sinksFor(rs), Options{})
	e.produce(alertEvent("p1", "pay-api", down), alertEvent("p2", "pay-db", down), alertEvent("s1", "search", down))
	poll.Until(t, 20*time.Second, "both destinations done", func() (bool, string) {
		return e.committed("d0") == 3 && e.committed("d1") == 3, fmt.Sprint(e.committed("d0"), e.committed("d1"))
	})
	noSecrets(t, e.logs)
	if got := rs[0].eventsGot(); fmt.Sprint(got) != "map[p1:1 p2:1]" {
		t.Fatalf("d0 (team=payments) got %v", got)
	}
	groups := map[string]int{}
	for _, g := range rs[1].received() {
		groups[g.Group["team"]] += len(g.Events)
	}
	if fmt.Sprint(groups) != "map[discovery:1 payments:2]" || len(rs[1].received()) != 2 {
		t.Fatalf("d1 got %d messages, events by team %v: want one message per team", len(rs[1].received()), groups)
	}
}
