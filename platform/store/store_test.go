package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	chschema "github.com/picket-dev/picket/schemas/clickhouse"
	"github.com/picket-dev/picket/schemas/events"
)

func TestMigrateTwiceAppliesOnce(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t) // first run
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", applied)
	}
}

func TestMigrateFreshDatabaseAppliesAllInOrder(t *testing.T) {
	b := embeddedtest.Backend(t)
	db := embeddedtest.Database(t)
	s, err := store.New(b, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db, nil) })
	applied, err := s.Migrate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := chschema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	if len(want) < 9 || want[8] != "0009_check_rollup_phases" {
		t.Fatalf("migrations %v: want 0009_check_rollup_phases ninth", want)
	}
	if fmt.Sprint(applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
}

func result(check string, tick time.Time, status uint16, ok bool, ms float64) store.ResultRow {
	return store.ResultRow{
		ResultID: events.ResultID(check, "here", tick), CheckID: check, CheckName: "Name of " + check,
		CheckType: "http", Location: "here", ScheduledAt: tick, StartedAt: tick.Add(time.Millisecond),
		DurationMS: ms, TTFBMS: ms / 2, HTTPStatus: status, Success: ok, IntervalMS: 1000,
		DNSMS: 1, ConnectMS: 2, TLSMS: 3, ProcessingMS: ms / 2, TransferMS: ms / 10,
	}
}

func TestStatsCountEachResultOnceAcrossRedelivery(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(12 * time.Hour)
	rows := []store.ResultRow{
		result("api", t0, 200, true, 10),
		result("api", t0.Add(time.Second), 200, true, 30),
		result("api", t0.Add(2*time.Second), 500, false, 50),
		result("api", t0.Add(3*time.Second), 0, false, 2000),
		result("other", t0, 200, true, 1),
	}
	for range 3 { // the same batch delivered three times
		if err := s.InsertResults(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx, store.StatsQuery{CheckID: "api", From: t0, To: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 4 || st.Successes != 2 || st.Availability != 0.5 {
		t.Fatalf("samples=%d successes=%d availability=%v, want 4, 2, 0.5", st.Samples, st.Successes, st.Availability)
	}
	if st.AvgResponseMS != 522.5 || st.MaxResponseMS != 2000 || st.AvgTTFBMS != 261.25 || st.MaxTTFBMS != 1000 {
		t.Fatalf("response avg/max %v/%v ttfb avg/max %v/%v", st.AvgResponseMS, st.MaxResponseMS, st.AvgTTFBMS, st.MaxTTFBMS)
	}
	if st.AvgDNSMS != 1 || st.AvgConnectMS != 2 || st.AvgTLSMS != 3 || st.AvgProcessingMS != 261.25 || st.AvgTransferMS != 52.25 {
		t.Fatalf("phase averages %+v", st)
	}
	if fmt.Sprint(st.StatusCodes) != "map[0:1 200:2 500:1]" {
		t.Fatalf("status codes %v", st.StatusCodes)
	}
	// The range end is exclusive; the start inclusive.
	st, err = s.Stats(ctx, store.StatsQuery{CheckID: "api", From: t0.Add(time.Second), To: t0.Add(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 2 {
		t.Fatalf("samples in [t0+1s, t0+3s) = %d, want 2", st.Samples)
	}
}

func TestStatsOfEmptyRangeIsZero(t *testing.T) {
	s := embeddedtest.Store(t)
	now := time.Now()
	st, err := s.Stats(context.Background(), store.StatsQuery{CheckID: "nothing", From: now.Add(-time.Hour), To: now})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 0 || st.Availability != 0 || st.AvgResponseMS != 0 || len(st.StatusCodes) != 0 {
		t.Fatalf("stats of nothing = %+v", st)
	}
}

func TestParamsAreNotInjectable(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(12 * time.Hour)
	tricky := `it's a "check" \ with	tab`
	if err := s.InsertResults(ctx, []store.ResultRow{result(tricky, t0, 200, true, 1), result("plain", t0, 200, true, 1)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx, store.StatsQuery{CheckID: tricky, From: t0, To: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 1 {
		t.Fatalf("samples of %q = %d, want 1", tricky, st.Samples)
	}
	got, err := s.Samples(ctx, tricky, t0, t0.Add(time.Second))
	if err != nil || len(got) != 1 || !got[0].ScheduledAt.Equal(t0) {
		t.Fatalf("samples %+v, %v", got, err)
	}
	st, err = s.Stats(ctx, store.StatsQuery{CheckID: "' OR 1=1 --", From: t0, To: t0.Add(time.Second)})
	if err != nil || st.Samples != 0 {
		t.Fatalf("injection attempt: samples=%d err=%v", st.Samples, err)
	}
}

func TestAlertsHistoryAndLatest(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := embeddedtest.Day().Add(12 * time.Hour)
	down := store.AlertRow{EventID: "e1", CheckID: "api", CheckName: "API", Rule: "availability", State: "down",
		PreviousState: "up", At: t0, Message: "down!", Availability: 0.5, Threshold: 0.8, WindowMS: 120000, Samples: 10, Successes: 5}
	up := down
	up.EventID, up.State, up.PreviousState, up.At, up.Message, up.DownSince = "e2", "up", "down", t0.Add(time.Minute), "up!", t0
	for range 2 {
		if err := s.InsertAlerts(ctx, []store.AlertRow{down, up}); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := s.Alerts(ctx, store.AlertQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].EventID != "e2" || hist[1].EventID != "e1" || !hist[0].DownSince.Equal(t0) {
		t.Fatalf("history %+v", hist)
	}
	latest, err := s.LatestAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 1 || latest[0].State != "up" {
		t.Fatalf("latest %+v", latest)
	}
	// Which of some event ids are stored (a restore's question), whatever
	// other checks hold.
	refs := []store.AlertRef{{"api", "e2"}, {"web", "e3"}, {"api", "e1"}, {"web", "e1"}}
	// 10,000 checks with ids of the longest length the prober allows: two
	// statements of about 1 MiB each, each over the embedded engine's
	// default max_query_size.
	for i := range 10000 {
		refs = append(refs, store.AlertRef{CheckID: longCheckID(i), EventID: fmt.Sprintf("%032x", i)})
	}
	stored, err := s.StoredAlertEvents(ctx, refs)
	if err != nil || len(stored) != 2 || !stored["e1"] || !stored["e2"] {
		t.Fatalf("stored %v %v, want e1 and e2", stored, err)
	}
	if stored, err := s.StoredAlertEvents(ctx, []store.AlertRef{{"web", "e1"}}); err != nil || len(stored) != 0 {
		t.Fatalf("stored as another check's %v %v, want none", stored, err)
	}
}

// longCheckID is the id of check i of a large fleet, as long as the prober
// allows (128 characters).
func longCheckID(i int) string {
	return "team-payments-eu-west-1-checkout-" + strings.Repeat("x", 128-33-6) + fmt.Sprintf("%06d", i)
}

// The restore reads the history of every check a partition holds: with
// 10,000 checks of the longest ids, in two statements of about 1 MiB (each
// over the embedded engine's default max_query_size), and still in
// event-time order and complete.
func TestResultsOfTenThousandChecks(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	var ids []string
	for i := range 10000 {
		ids = append(ids, longCheckID(i))
	}
	// Checks in the first and last chunks, interleaved in time.
	rows := []store.ResultRow{
		result(ids[9999], t0, 200, true, 10),
		result(ids[3], t0.Add(time.Second), 500, false, 20),
		result(ids[9999], t0.Add(2*time.Second), 200, true, 30),
		result(ids[3], t0.Add(3*time.Second), 200, true, 40),
	}
	if err := s.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.ResultsBetween(ctx, ids, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("results between: %v", err)
	}
	var order []string
	for _, r := range got {
		order = append(order, fmt.Sprintf("%s@%s", r.CheckID[len(r.CheckID)-4:], r.ScheduledAt.Sub(t0)))
	}
	if want := "[9999@0s 0003@1s 9999@2s 0003@3s]"; fmt.Sprint(order) != want {
		t.Fatalf("results %v, want %s", order, want)
	}
	last, err := s.LastResults(ctx, ids, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("last results: %v", err)
	}
	if len(last) != 2 || last[0].CheckID != ids[3] || last[0].DurationMS != 40 || last[1].CheckID != ids[9999] || last[1].DurationMS != 30 {
		t.Fatalf("last results %+v, want checks 3 (40 ms) and 9999 (30 ms)", last)
	}
	if last, err := s.LastResults(ctx, nil, t0.Add(time.Minute)); err != nil || len(last) != 0 {
		t.Fatalf("last results of no checks %v %v, want none", last, err)
	}
	// The restore also rebuilds their rollups.
	if err := s.RebuildRollups(ctx, ids, t0, t0.Add(time.Minute)); err != nil {
		t.Fatalf("rebuild rollups: %v", err)
	}
	for _, id := range []string{ids[3], ids[9999]} {
		day := t0.Truncate(24 * time.Hour)
		st, err := s.RollupStats(ctx, store.Day, id, day, day.Add(24*time.Hour))
		if err != nil || st.Runs != 2 {
			t.Fatalf("day rollup of %s: %d runs %v, want 2", id, st.Runs, err)
		}
	}
}
