package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query/api"
)

// The check list a user opens on `picket dev` says what each check probes,
// and one check shows its definition: for the stack's own checks at once,
// and for a check published with `picket apply` as soon as it reports —
// with the credentials its definition carries redacted.
func TestDevStackShowsTargetsAndDefinitions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	cfg := devstack.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Demo.Enabled = false
	cfg.Database = embeddedtest.Database(t)
	own := check.Check{ID: "own", Name: "Own", Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: srv.URL + "/own", ExpectedStatus: []int{200}}}
	s, err := devstack.Start(context.Background(), cfg, devstack.Options{Checks: []check.Check{own}, Backend: embeddedtest.Backend(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	file := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`checks:
  - id: applied
    interval: 200ms
    timeout: 150ms
    http:
      method: POST
      url: %s/applied
      headers: {Authorization: "Bearer sekrit"}
`, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := picket(t, "apply", "-f", file, "--set", "kafka.brokers="+s.KafkaAddr); err != nil {
		t.Fatalf("picket apply: %v\n%s", err, errOut)
	}
	want := map[string]string{"own": "GET " + srv.URL + "/own", "applied": "POST " + srv.URL + "/applied"}
	poll.Until(t, 60*time.Second, "both checks listed with their targets", func() (bool, string) {
		var list api.CheckListJSON
		if err := getJSONBody(s.QueryURL+"/api/v1/checks", &list); err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, c := range list.Checks {
			got[c.ID] = c.Target
		}
		return got["own"] == want["own"] && got["applied"] == want["applied"], fmt.Sprint(got)
	})
	var one api.CheckJSON
	if err := getJSONBody(s.QueryURL+"/api/v1/checks/applied", &one); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(one.Definition)
	var def struct {
		Interval string `json:"interval"`
		HTTP     struct {
			Headers map[string]string `json:"headers"`
		} `json:"http"`
	}
	json.Unmarshal(b, &def)
	if def.Interval != "200ms" || def.HTTP.Headers["Authorization"] != "[redacted]" {
		t.Errorf("definition %s: want interval 200ms and the Authorization header redacted", b)
	}
}

func getJSONBody(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// A check published with `picket apply` that has never reported (here the
// prober does not run published checks) is found by the labels of its
// definition: its team's status page shows it, stale and named as defined,
// and its team's SLO covers it, without events (`picket slos` says so).
func TestDevStackSelectsDefinedChecksByLabel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	cfg := devstack.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	cfg.Database = embeddedtest.Database(t)
	cfg.Query.StatusPages = map[string]api.StatusPage{"ops": {Labels: map[string]string{"team": "ops"}}}
	cfg.Query.SLOs = []api.SLO{{Name: "ops", Labels: []string{"team:ops"}, Objective: 0.999}}
	own := check.Check{ID: "own", Name: "Own", Interval: time.Second, Timeout: 500 * time.Millisecond,
		HTTP: &check.HTTP{Method: "GET", URL: srv.URL + "/own", ExpectedStatus: []int{200}}}
	s, err := devstack.Start(context.Background(), cfg, devstack.Options{Checks: []check.Check{own}, Backend: embeddedtest.Backend(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	file := filepath.Join(t.TempDir(), "checks.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`checks:
  - id: dormant
    name: Dormant API
    labels: {team: ops}
    interval: 1m
    http: {url: %s/dormant}
`, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := picket(t, "apply", "-f", file, "--set", "kafka.brokers="+s.KafkaAddr); err != nil {
		t.Fatalf("picket apply: %v\n%s", err, errOut)
	}
	poll.Until(t, 60*time.Second, "the status page to show the applied check", func() (bool, string) {
		var p api.StatusPageJSON
		if err := getJSONBody(s.QueryURL+"/api/v1/status/ops", &p); err != nil {
			return false, err.Error()
		}
		ok := len(p.Checks) == 1 && p.Checks[0].ID == "dormant" && p.Checks[0].Name == "Dormant API" &&
			p.Checks[0].State == api.StateStale && p.Checks[0].LastChecked == nil
		return ok, fmt.Sprintf("%+v", p.Checks)
	})
	out, errOut, err := picket(t, "slos", "--data-dir", cfg.DataDir)
	want := "slo=ops objective=99.9% window=30d budgeting=occurrences checks=1 good=0 bad=0 achieved=- budget_remaining=- " +
		"burn_5m=- burn_30m=- burn_1h=- burn_6h=- burn_3d=-\n  check=dormant good=0 bad=0 achieved=- budget_remaining=- " +
		"burn_5m=- burn_30m=- burn_1h=- burn_6h=- burn_3d=-\n"
	if err != nil || out != want {
		t.Fatalf("picket slos: %v %s\n%s\nwant\n%s", err, errOut, out, want)
	}
}
