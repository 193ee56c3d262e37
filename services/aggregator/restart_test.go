package aggregator

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pollpkg "github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// locResult is check's result at location loc, tick i (1 s apart from t0).
func locResult(check, loc string, i int, ok bool) *eventsv1.CheckResult {
	ev := result(check, i, ok)
	tick := t0.Add(time.Duration(i) * time.Second)
	ev.Location, ev.ResultId = loc, events.ResultID(check, loc, tick)
	ev.ScheduledAt, ev.Interval = timestamppb.New(tick), durationpb.New(time.Second)
	return ev
}

// downLatency runs a check with two locations under the default 30 s
// lateness: 60 s of successes, optionally a restart of the aggregator, then
// 15 s more of successes and failures from then on. It returns how long the
// down transition took to be stored after its deciding result was produced.
func downLatency(t *testing.T, restart bool) time.Duration {
	e := newEnv(t)
	e.cfg.Alerting.Lateness = 30 * time.Second
	// The outage's results come in one tick at a time, as a prober's do.
	tick := func(i int, ok bool) {
		e.produce(t, record(t, locResult("api", "eu", i, ok)), record(t, locResult("api", "us", i, ok)))
	}
	for i := range 60 {
		tick(i, true)
	}
	_, stop := e.runAlerting(t, nil)
	poll(t, "the history committed", func() (bool, string) { n := e.committed(t); return n == 120, fmt.Sprint(n) })
	if restart {
		stop()
		// The probers go on while the aggregator is down.
		for i := 60; i < 65; i++ {
			tick(i, true)
		}
		reg, _ := e.runAlerting(t, nil)
		// 15 s after the restart: it has long rebuilt the check's rules.
		poll(t, "the rules rebuilt", func() (bool, string) {
			n := gauge(t, reg, "picket_aggregator_tracked_checks")
			return n == 1, fmt.Sprint(n)
		})
	}
	for i := 60; i < 75; i++ {
		if restart && i < 65 {
			continue
		}
		tick(i, true)
	}
	// 80 % over 10 s: the third failure of each location opens the alert.
	var produced time.Time
	for i := 75; i < 78; i++ {
		produced = time.Now()
		tick(i, false)
	}
	var took time.Duration
	pollpkg.Until(t, 10*time.Second, "the down transition", func() (bool, string) {
		a := e.alerts(t)
		took = time.Since(produced)
		return len(a) == 1 && a[0].State == "down", fmt.Sprint(a)
	})
	if a := e.alerts(t); !a[0].At.Equal(t0.Add(77 * time.Second)) {
		t.Fatalf("down at %v, want at the third failure", a[0].At)
	}
	return took
}

// An outage starting 15 s after a restart is alerted as fast as without the
// restart: the rules rebuilt from the stored results know each location is
// contiguous up to its newest stored result, so the first live results are
// evaluated at once instead of waiting the lateness (30 s) for every check.
func TestOutageAfterARestartIsAlertedAsFastAsWithout(t *testing.T) {
	without := downLatency(t, false)
	with := downLatency(t, true)
	t.Logf("down transition after its result: %v without a restart, %v with", without, with)
	if with > without+500*time.Millisecond {
		t.Fatalf("after a restart the outage took %v to alert, %v without", with, without)
	}
}
