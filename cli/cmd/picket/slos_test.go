package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/query/api"
)

var devSLOs = []api.SLO{
	{Name: "api", Checks: []string{"api"}, Objective: 0.9},
	{Name: "api-minutes", Checks: []string{"api"}, Objective: 0.99, Window: "7d", Budgeting: "timeslices", Slice: 120e9},
}

// `picket slos` against a running `picket dev`, found from its data
// directory: one line per SLO and per check it covers, whose figures are
// the query API's (written out here from its JSON), the counts those of
// what the target served; --json is the API's answer; a name shows one.
func TestSLOsOnARunningDevStack(t *testing.T) {
	s, cfg, _, target := devWithHistory(t, 30, func(c *devstack.Config) { c.Query.SLOs = devSLOs })
	total, ok := target.served()
	out, errOut, err := picket(t, "slos", "--data-dir", cfg.DataDir)
	if err != nil {
		t.Fatalf("picket slos: %v\n%s", err, errOut)
	}
	var all api.SLOsJSON
	getAPI(t, s.QueryURL+"/api/v1/slos", &all)
	if len(all.SLOs) != 2 {
		t.Fatalf("the API serves %d SLOs, want 2", len(all.SLOs))
	}
	if occ := all.SLOs[0].Total; occ.Good != uint64(ok) || occ.Bad != uint64(total-ok) {
		t.Fatalf("the API counts %d good and %d bad results, the target served %d of %d ok", occ.Good, occ.Bad, ok, total)
	}
	figures := func(f api.SLOFiguresJSON) string {
		b, r := f.ErrorBudget, f.BurnRates
		return fmt.Sprintf("good=%d bad=%d achieved=%.3f%% budget_remaining=%.2f%% (%v of %v %s) burn_5m=%.2f burn_30m=%.2f burn_1h=%.2f burn_6h=%.2f burn_3d=%.2f",
			f.Good, f.Bad, *f.Achieved*100, *b.RemainingFraction*100, roundTo(b.Remaining), roundTo(b.Total), b.Unit, *r.M5, *r.M30, *r.H1, *r.H6, *r.D3)
	}
	want := fmt.Sprintf("slo=api objective=90%% window=30d budgeting=occurrences checks=1 %s\n  check=api %s\n"+
		"slo=api-minutes objective=99%% window=7d budgeting=timeslices/2m checks=1 %s\n  check=api %s\n",
		figures(all.SLOs[0].Total), figures(all.SLOs[0].Checks[0]), figures(all.SLOs[1].Total), figures(all.SLOs[1].Checks[0]))
	if out != want {
		t.Fatalf("picket slos:\n%s\nwant\n%s", out, want)
	}
	t.Logf("picket slos:\n%s", out)
	if !strings.Contains(out, fmt.Sprintf(" good=%d bad=%d achieved=%.3f%% ", ok, total-ok, float64(ok)/float64(total)*100)) {
		t.Fatalf("no line counts what the target served (%d of %d ok):\n%s", ok, total, out)
	}

	// --json is the API's answer (its span moves with now: not compared).
	out, _, err = picket(t, "slos", "--data-dir", cfg.DataDir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got api.SLOsJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	for i := range got.SLOs {
		got.SLOs[i].From, got.SLOs[i].To = all.SLOs[i].From, all.SLOs[i].To
	}
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("--json %+v\nthe API %+v", got, all)
	}
	// One SLO by name (flags after it too).
	out, _, err = picket(t, "slos", "api-minutes", "--query-url", s.QueryURL)
	if err != nil || !strings.HasPrefix(out, "slo=api-minutes ") || strings.Count(out, "\n") != 2 {
		t.Fatalf("picket slos api-minutes: %v\n%s", err, out)
	}
}

// A query API that does not answer, an unknown SLO and bad options are
// errors naming what is wrong (the command exits non-zero); a stack without
// SLOs says so.
func TestSLOsErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	a := api.New(embeddedtest.Store(t), slog.New(slog.DiscardHandler), 0)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for args, want := range map[string]string{
		"--query-url " + dead:              "slos: query API /api/v1/slos: ",
		"--query-url " + srv.URL + " nope": `slos: query API /api/v1/slos/nope: 404 Not Found: no SLO is named "nope" (see /api/v1/slos)`,
		"--query-url ftp://x":              `slos: --query-url "ftp://x": want http(s)://host:port`,
		"--data-dir " + t.TempDir():        "not a `picket dev` data directory",
		"--query-url " + dead + " a b":     `slos: unexpected argument "b" (give at most one SLO name)`,
		"--window 1h":                      "flag provided but not defined: -window",
	} {
		if _, _, err := picket(t, append([]string{"slos"}, strings.Fields(args)...)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("picket slos %s: %v, want %q", args, err, want)
		}
	}
	out, _, err := picket(t, "slos", "--query-url", srv.URL)
	if err != nil || out != "no SLOs are configured (slos in the query service's configuration, query.slos in picket dev's)\n" {
		t.Fatalf("no SLOs: %v, %q", err, out)
	}
}

func getAPI(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// roundTo is v to four decimals, as %v writes it.
func roundTo(v float64) float64 { return float64(int64(v*1e4+copysignHalf(v))) / 1e4 }

func copysignHalf(v float64) float64 {
	if v < 0 {
		return -0.5
	}
	return 0.5
}
