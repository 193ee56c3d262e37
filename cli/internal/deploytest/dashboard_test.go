package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }

type dashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RawSQL    string `json:"rawSql"`
			Expr      string `json:"expr"`
			Format    *int   `json:"format"`
			QueryType string `json:"queryType"`
		} `json:"targets"`
	} `json:"panels"`
}

var (
	timeInterval = regexp.MustCompile(`\$__timeInterval\(([a-z_]+)\)`)
	timeFilter   = regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)
)

// expand does what the ClickHouse data source does to a query before sending
// it, for a one-minute interval over [from, to], with the check variable set
// to checkID, in database db instead of picket.
func expand(sql, db, checkID string, from, to time.Time) string {
	sql = timeInterval.ReplaceAllString(sql, "toStartOfInterval(toDateTime($1), INTERVAL 60 second)")
	sql = timeFilter.ReplaceAllString(sql, fmt.Sprintf("$1 >= toDateTime(%d) AND $1 <= toDateTime(%d)", from.Unix(), to.Unix()))
	sql = strings.ReplaceAll(sql, "${check:singlequote}", "'"+checkID+"'")
	return strings.ReplaceAll(sql, "picket.", db+".")
}

// Every ClickHouse query of the Grafana dashboard runs on the real schema
// (schemas/clickhouse, migrated) and finds the rows of a check that ran,
// failed once with a 500 and alerted: a renamed column or table, or SQL the
// server refuses, fails here instead of as an empty panel.
func TestDashboardQueriesRunOnTheSchema(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, "deploy/grafana/dashboards/picket.json")), &d); err != nil {
		t.Fatalf("deploy/grafana/dashboards/picket.json: %v", err)
	}
	ctx := context.Background()
	st := embeddedtest.Store(t)
	base := embeddedtest.Day().Add(10 * time.Hour)
	var rows []store.ResultRow
	for i := range 10 {
		at := base.Add(time.Duration(i) * 5 * time.Second)
		ok := i != 3
		status, class := uint16(200), ""
		if !ok {
			status, class = 500, "status"
		}
		rows = append(rows, store.ResultRow{
			ResultID: fmt.Sprintf("r%d", i), CheckID: "reservations", CheckName: "Reservations API", CheckType: "http",
			Location: "docker", ScheduledAt: at, StartedAt: at, DurationMS: 20 + float64(i), HTTPStatus: status,
			Success: ok, FailureClass: class, IntervalMS: 5000, ProcessingMS: 15, CertNotAfter: time.Unix(0, 0),
			Attempts: 1, Labels: map[string]string{},
		})
	}
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"reservations"}, base, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertAlerts(ctx, []store.AlertRow{{
		EventID: "e1", CheckID: "reservations", CheckName: "Reservations API", Rule: "availability", State: "down",
		PreviousState: "up", At: base.Add(20 * time.Second), Kind: "availability", Unit: "ratio", Summary: "down",
	}}); err != nil {
		t.Fatal(err)
	}

	from, to := base.Add(-time.Hour), base.Add(time.Hour)
	queries := 0
	for _, v := range d.Templating.List {
		queries++
		var got []struct {
			CheckID string `ch:"check_id"`
		}
		if err := st.Backend().Select(ctx, &got, expand(v.Query, st.Database(), "", from, to), nil); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		if len(got) != 1 || got[0].CheckID != "reservations" {
			t.Errorf("variable %s lists %v, want [reservations]", v.Name, got)
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if p.Datasource.UID != "picket-clickhouse" {
				if tg.Expr == "" {
					t.Errorf("panel %q: a %s query with no expr", p.Title, p.Datasource.UID)
				}
				continue
			}
			queries++
			if tg.Format == nil || (*tg.Format == 0) != (tg.QueryType == "timeseries") {
				t.Errorf("panel %q: format %v does not match queryType %q", p.Title, tg.Format, tg.QueryType)
			}
			var got []struct {
				N uint64 `ch:"n"`
			}
			q := "SELECT count() AS n FROM (" + expand(tg.RawSQL, st.Database(), "reservations", from, to) + ")"
			if err := st.Backend().Select(ctx, &got, q, nil); err != nil {
				t.Errorf("panel %q: %v\n%s", p.Title, err, q)
				continue
			}
			if len(got) != 1 || got[0].N == 0 {
				t.Errorf("panel %q: no rows for a check that ran and alerted", p.Title)
			}
		}
	}
	if queries < 6 {
		t.Fatalf("only %d ClickHouse queries found in the dashboard", queries)
	}
}

// The availability panel's figure is the stored one: 9 of 10 runs succeeded.
func TestDashboardAvailabilityIsTheStoredFigure(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, "deploy/grafana/dashboards/picket.json")), &d); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := embeddedtest.Store(t)
	base := embeddedtest.Day().Add(11 * time.Hour)
	var rows []store.ResultRow
	for i := range 10 {
		at := base.Add(time.Duration(i) * 5 * time.Second)
		rows = append(rows, store.ResultRow{
			ResultID: fmt.Sprintf("r%d", i), CheckID: "c", CheckName: "c", CheckType: "http", Location: "docker",
			ScheduledAt: at, StartedAt: at, DurationMS: 10, HTTPStatus: 200, Success: i != 0, IntervalMS: 5000,
			CertNotAfter: time.Unix(0, 0), Attempts: 1, Labels: map[string]string{},
		})
	}
	if err := st.InsertResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildRollups(ctx, []string{"c"}, base, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		if p.Title != "Availability over the range" {
			continue
		}
		var got []struct {
			CheckID      string  `ch:"check_id"`
			Availability float64 `ch:"availability"`
		}
		q := expand(p.Targets[0].RawSQL, st.Database(), "c", base.Add(-time.Hour), base.Add(time.Hour))
		if err := st.Backend().Select(ctx, &got, q, nil); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Availability != 0.9 {
			t.Fatalf("availability %+v, want c at 0.9", got)
		}
		return
	}
	t.Fatal("no panel \"Availability over the range\"")
}
