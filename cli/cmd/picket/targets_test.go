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
