package query

import (
	"reflect"
	"testing"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/config/configtest"
	"github.com/picket-dev/picket/services/query/api"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-addr.yaml":                        "config: addr: must not be empty",
		"invalid-dial-timeout.yaml":                "config: clickhouse.dial_timeout: -1s must not be negative",
		"invalid-unknown-key.yaml":                 `config: unknown key "listen"`,
		"invalid-request-timeout.yaml":             "config: request_timeout: 0s must be positive",
		"invalid-request-timeout-too-long.yaml":    "config: request_timeout: 10m0s is longer than the maximum 5m0s",
		"invalid-status-page-no-checks.yaml":       "config: status_pages.shop: give checks (ids) or labels (key: value) to choose the checks it shows",
		"invalid-status-page-slug.yaml":            `config: status_pages: slug "Shop Page": want lower-case letters, digits, - and _ (at most 63), starting with a letter or digit`,
		"invalid-status-page-empty-check.yaml":     "config: status_pages.shop.checks[1]: must not be empty",
		"invalid-status-page-duplicate-check.yaml": `config: status_pages.shop.checks[2]: "api" is listed twice`,
		"invalid-status-page-unknown-key.yaml":     `config: unknown key "status_pages.shop.check"`,
		"invalid-status-page-label.yaml":           "config: status_pages.shop.labels: a label name must not be empty",
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}

// A status page can be given entirely with --set or PICKET_ variables, as
// `picket dev` and a container's environment give it.
func TestStatusPagesFromSetsAndEnvironment(t *testing.T) {
	want := map[string]api.StatusPage{"shop": {Title: "Shop status", Checks: []string{"api", "web"},
		Labels: map[string]string{"team": "shop"}}}
	for name, src := range map[string]config.Source{
		"--set": {Sets: []string{"status_pages.shop.title=Shop status", "status_pages.shop.checks=api, web",
			"status_pages.shop.labels.team=shop"}},
		"environment": {Environ: []string{"PICKET_STATUS_PAGES__SHOP__TITLE=Shop status", "PICKET_STATUS_PAGES__SHOP__CHECKS=api,web",
			"PICKET_STATUS_PAGES__SHOP__LABELS__TEAM=shop"}},
	} {
		cfg := DefaultConfig()
		if err := config.Load(&cfg, DefaultConfig(), src); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(cfg.StatusPages, want) {
			t.Errorf("%s: status pages %+v, want %+v", name, cfg.StatusPages, want)
		}
	}
	cfg := DefaultConfig()
	err := config.Load(&cfg, DefaultConfig(), config.Source{Sets: []string{"status_pages.shop.title=Shop"}})
	if err == nil || err.Error() != "config: status_pages.shop: give checks (ids) or labels (key: value) to choose the checks it shows" {
		t.Errorf("a page without checks: %v", err)
	}
}
