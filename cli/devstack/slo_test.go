package devstack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/services/query/api"
)

// SLOs in `picket dev`'s configuration file are served by its query API,
// counting the results its prober stores; a bad one stops the start naming
// its key.
func TestDevServesConfiguredSLOs(t *testing.T) {
	_, url := newTarget(t)
	dir := t.TempDir()
	checks := filepath.Join(dir, "checks.yaml")
	if err := os.WriteFile(checks, checksYAML(url, "shop"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "dev.yaml")
	yaml := "query:\n  slos:\n    - name: shop\n      checks: [shop]\n      objective: 0.999\n      window: 30d\n" +
		"    - name: shop-minutes\n      checks: [shop]\n      objective: 0.99\n      budgeting: timeslices\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	if err := config.Load(&cfg, cfg, config.Source{File: file}); err != nil {
		t.Fatal(err)
	}
	cfg.Demo.Enabled, cfg.ChecksFile = false, checks
	s := start(t, cfg, testOptions(t))
	poll.Until(t, 30*time.Second, "the SLOs to count the check's results", func() (bool, string) {
		var got api.SLOsJSON
		if err := getJSON(s.QueryURL+"/api/v1/checks/shop/slos", &got); err != nil {
			return false, err.Error()
		}
		if len(got.SLOs) != 2 || got.SLOs[0].Name != "shop" || got.SLOs[1].Budgeting != "timeslices" {
			return false, fmt.Sprintf("%+v", got)
		}
		occ, ts := got.SLOs[0].Total, got.SLOs[1].Total
		done := occ.Good > 0 && occ.Bad == 0 && occ.Achieved != nil && *occ.Achieved == 1 && ts.Good > 0 && ts.ErrorBudget.Unit == "minutes"
		return done, fmt.Sprintf("occurrences %+v, timeslices %+v", occ, ts)
	})

	if err := os.WriteFile(file, []byte("query:\n  slos:\n    - name: shop\n      checks: [shop]\n      objective: 99.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	err := config.Load(&bad, DefaultConfig(), config.Source{File: file})
	if want := "config: query.slos[0].objective: 99.9: want a fraction above 0 and below 1, like 0.999"; err == nil || err.Error() != want {
		t.Fatalf("bad SLO: %v\nwant %s", err, want)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}
