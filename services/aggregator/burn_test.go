package aggregator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// slowBurn is "api"'s result i of a check every minute from start: three
// healthy days, then one failure in 20 (5 %, 5× a 99 % objective's budget).
func slowBurn(start time.Time, i, healthy int) *eventsv1.CheckResult {
	ok := i < healthy || (i-healthy)%20 != 19
	ev := result("api", 0, ok)
	tick := start.Add(time.Duration(i) * time.Minute)
	ev.ResultId, ev.ScheduledAt, ev.StartedAt = events.ResultID("api", "loc", tick), timestamppb.New(tick), timestamppb.New(tick)
	ev.Interval = durationpb.New(time.Minute)
	return ev
}

// The aggregator restarts 14 hours into a slow burn of a check every
// minute, its restore horizon the default 10 minutes: the burn_rate rule's
// 3-day window is rebuilt from the minute rollups, so the ticket opens at the
// same result (the 43rd failure: 1 % of the 3-day window's results, its
// 72-minute buckets holding between 71 and 72 hours of them),
// with the same id and evidence, as for an aggregator that never stopped.
// Rebuilt from the 10 minutes of raw results alone, the 3-day window would
// burn at 5× and open the ticket at the restore.
func TestBurnRateRestoredFromTheMinuteRollupsAfterARestart(t *testing.T) {
	e := newEnv(t)
	e.cfg.Alerting.Rules = map[string]alert.Rule{"slo": {Kind: alert.KindBurnRate, Objective: 0.99}}
	e.cfg.Alerting.RestoreHorizon = 10 * time.Minute
	start := t0.Add(-72 * time.Hour)
	const healthy, restart, end = 72 * 60, 72*60 + 14*60, 72*60 + 16*60

	// What an aggregator that never stopped decides.
	ref := alert.NewTracker("api", "Check api", e.cfg.Alerting.For("api"), alert.Options{})
	ref.SetType("http")
	var want []*alert.Transition
	for i := range end {
		ref.Add(ingest.Sample(slowBurn(start, i, healthy)))
		want = append(want, ref.Flush()...)
	}
	if len(want) != 1 || want[0].To != alert.StateDegraded ||
		!want[0].At.Equal(start.Add(time.Duration(healthy+19+42*20)*time.Minute)) {
		t.Fatalf("uninterrupted: %d transitions, first %s at %s, want one ticket at the 43rd failure", len(want), want[0].Message, want[0].At.Sub(start))
	}

	// History before the restart is stored (and rolled up); the rest
	// arrives after it.
	ctx := context.Background()
	var rows []store.ResultRow
	for i := range restart {
		rows = append(rows, ingest.Row(slowBurn(start, i, healthy)))
	}
	if err := e.store.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RebuildRollups(ctx, []string{"api"}, start, start.Add(restart*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := restart; i < end; i++ {
		recs = append(recs, record(t, slowBurn(start, i, healthy)))
	}
	e.produce(t, recs...)
	e.start(t, nil)
	var got []store.AlertRow
	poll(t, "the ticket", func() (bool, string) {
		var err error
		got, err = e.store.Alerts(ctx, store.AlertQuery{From: start, To: start.Add(end * time.Minute), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(got) > 0, fmt.Sprint(got)
	})
	a := got[0]
	if len(got) != 1 || a.EventID != want[0].EventID || a.Message != want[0].Message || a.State != "degraded" {
		t.Fatalf("after the restart:\n%+v\nwant\n%s %s", got, want[0].EventID, want[0].Message)
	}
	if a.Kind != "burn_rate" || a.Unit != "burn_rate" || a.Threshold != 1 || a.WindowMS != uint64((72*time.Hour).Milliseconds()) ||
		a.Samples < 71*60 || a.Samples > 72*60 || a.Value < 1 || !strings.Contains(a.Message, "over 3d and 5.1× over 6h (ticket threshold 1×), objective 99%") {
		t.Fatalf("evidence %+v", a)
	}
}
