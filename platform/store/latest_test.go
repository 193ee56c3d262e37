package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
)

// at is result at location loc.
func at(r store.ResultRow, loc string) store.ResultRow {
	r.Location = loc
	r.ResultID = events.ResultID(r.CheckID, loc, r.ScheduledAt)
	return r
}

// latestFixture stores, in batches out of order and one delivered twice,
// check api in eu and us and check web in eu: api's newest result in eu
// succeeded after a failure, its failures in us are a timeout and a newer
// skipped run (not a failure), and web never failed.
func latestFixture(t *testing.T, s *store.Store, t0 time.Time) {
	t.Helper()
	ctx := context.Background()
	newer := []store.ResultRow{
		at(result("api", t0.Add(5*time.Second), 200, true, 10), "eu"),
		at(result("api", t0.Add(3*time.Second), 500, false, 50), "eu"),
		at(result("api", t0.Add(4*time.Second), 0, false, 0), "us"),
		at(result("web", t0.Add(2*time.Second), 200, true, 5), "eu"),
	}
	newer[1].FailureClass, newer[1].FailureMessage = "FAILURE_CLASS_HTTP_STATUS", "status 500, want 200"
	newer[2].FailureClass = store.OverloadClass
	late := []store.ResultRow{ // older than what is stored: changes no newest row
		at(result("api", t0, 200, true, 10), "eu"),
		at(result("api", t0.Add(time.Second), 0, false, 5000), "eu"),
		at(result("api", t0.Add(2*time.Second), 0, false, 5000), "us"),
		at(result("web", t0, 200, true, 5), "eu"),
	}
	late[1].FailureClass, late[1].FailureMessage = "FAILURE_CLASS_TIMEOUT", "old timeout"
	late[2].FailureClass, late[2].FailureMessage = "FAILURE_CLASS_TIMEOUT", "timeout after 5s"
	for _, batch := range [][]store.ResultRow{newer, late, newer} {
		if err := s.InsertResults(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// checkLatest asserts LatestResults' answer is the raw rows' and what
// latestFixture stored.
func checkLatest(t *testing.T, s *store.Store, t0 time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range []struct {
		since  time.Time
		checks []string
		want   string // check/location/newest second/newest failure's second (- for none)
	}{
		{t0.Add(-time.Hour), nil, "api/eu/5/3 api/us/4/2 web/eu/2/-"},
		{t0.Add(-time.Hour), []string{"api"}, "api/eu/5/3 api/us/4/2"},
		{t0.Add(-time.Hour), []string{"web", "nope"}, "web/eu/2/-"},
		// The newest failure of us is older than since: none since then.
		{t0.Add(3 * time.Second), nil, "api/eu/5/3 api/us/4/-"},
		{t0.Add(5 * time.Second), nil, "api/eu/5/-"},
		{t0.Add(time.Minute), nil, ""},
	} {
		got, err := s.LatestResults(ctx, tc.since, tc.checks)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.LatestResultsFromRaw(ctx, tc.since, tc.checks)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, raw) {
			t.Errorf("since %s, checks %v: check_latest %+v\nraw rows %+v", tc.since, tc.checks, got, raw)
		}
		if s := describeLatest(got, t0); s != tc.want {
			t.Errorf("since %s, checks %v: %q, want %q", tc.since, tc.checks, s, tc.want)
		}
	}
	got, err := s.LatestResults(ctx, t0.Add(-time.Hour), []string{"api"})
	if err != nil {
		t.Fatal(err)
	}
	if f := got[0].LastFailure; f == nil || f.FailureMessage != "status 500, want 200" || got[0].DurationMS != 10 ||
		got[1].LastFailure == nil || got[1].LastFailure.FailureMessage != "timeout after 5s" {
		t.Errorf("api: %+v", got)
	}
}

func describeLatest(rs []store.LatestResult, t0 time.Time) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		f := "-"
		if r.LastFailure != nil {
			f = fmt.Sprint(int(r.LastFailure.ScheduledAt.Sub(t0) / time.Second))
		}
		s += fmt.Sprintf("%s/%s/%d/%s", r.CheckID, r.Location, int(r.ScheduledAt.Sub(t0)/time.Second), f)
	}
	return s
}

func TestLatestResultsEqualTheRawRowsAcrossReplayAndLateResults(t *testing.T) {
	s := embeddedtest.Store(t)
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	latestFixture(t, s, t0)
	checkLatest(t, s, t0)
	// Merged, as the engine eventually does: the same answer.
	if err := s.Backend().Exec(context.Background(), "OPTIMIZE TABLE "+s.Database()+".check_latest FINAL", nil); err != nil {
		t.Fatal(err)
	}
	checkLatest(t, s, t0)
}

// Results stored before migration 0015 are copied into check_latest when it
// is applied, and applying it again (interrupted before it was recorded)
// changes nothing.
// forget15 makes the database as if migration 0015 had not been recorded.
const forget15 = "ALTER TABLE ${db}.schema_migrations DELETE WHERE version = 15 SETTINGS mutations_sync = 2"

func TestCheckLatestMigrationCopiesStoredResults(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Store(t)
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	latestFixture(t, s, t0)
	for _, stmt := range []string{
		"TRUNCATE TABLE ${db}.check_latest",
		forget15,
	} {
		if err := s.Backend().Exec(ctx, strings.ReplaceAll(stmt, "${db}", s.Database()), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LatestResults(ctx, t0.Add(-time.Hour), nil); err != nil || len(got) != 0 {
		t.Fatalf("emptied check_latest: %+v, %v", got, err)
	}
	for range 2 {
		applied, err := s.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(applied) != "[0015_check_latest]" {
			t.Fatalf("applied %v", applied)
		}
		checkLatest(t, s, t0)
		if err := s.Backend().Exec(ctx, strings.ReplaceAll(forget15, "${db}", s.Database()), nil); err != nil {
			t.Fatal(err)
		}
	}
}
