package query

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

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
		"invalid-cors-wildcard-credentials.yaml":   `config: cors.allowed_origins: "*" cannot be used with cors.allow_credentials (browsers refuse it); list the origins`,
		"invalid-auth-short-token.yaml":            "config: auth.tokens[0]: a token of 7 characters is shorter than the minimum 16",
		"invalid-rate-limit-proxy.yaml":            `config: rate_limit.trusted_proxies: "proxy.internal": want an IP address or CIDR prefix`,
		"invalid-slo-objective.yaml":               "config: slos[0].objective: 99.9: want a fraction above 0 and below 1, like 0.999",
		"invalid-slo-window.yaml":                  `config: slos[0].window: "30days": want whole days or a Go duration (30d, 720h), at most 90d (the minute rollups' retention)`,
		"invalid-slo-budgeting.yaml":               `config: slos[1].budgeting: "slices": want occurrences or timeslices`,
		"invalid-slo-unknown-key.yaml":             `config: unknown key "slos[0].target"`,
		"invalid-status-page-no-checks.yaml":       "config: status_pages.shop: give checks (ids) or labels (key: value) to choose the checks it shows",
		"invalid-status-page-slug.yaml":            `config: status_pages: slug "Shop Page": want lower-case letters, digits, - and _ (at most 63), starting with a letter or digit`,
		"invalid-status-page-empty-check.yaml":     "config: status_pages.shop.checks[1]: must not be empty",
		"invalid-status-page-duplicate-check.yaml": `config: status_pages.shop.checks[2]: "api" is listed twice`,
		"invalid-status-page-unknown-key.yaml":     `config: unknown key "status_pages.shop.check"`,
		"invalid-status-page-label.yaml":           "config: status_pages.shop.labels: a label name must not be empty",
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}

// SLOs come from the file, the defaults of their optional keys filled in
// when served.
func TestConfigLoadsSLOs(t *testing.T) {
	cfg := DefaultConfig()
	if err := config.Load(&cfg, DefaultConfig(), config.Source{File: filepath.Join("testdata", "slos.yaml")}); err != nil {
		t.Fatal(err)
	}
	want := []api.SLO{
		{Name: "checkout", Checks: []string{"checkout", "cart"}, Objective: 0.999, Window: "30d"},
		{Name: "payments-minutes", Labels: []string{"team:payments", "tier:1"}, Objective: 0.99, Window: "168h",
			Budgeting: "timeslices", Slice: 5 * time.Minute},
	}
	if !reflect.DeepEqual(cfg.SLOs, want) {
		t.Fatalf("slos %+v\nwant %+v", cfg.SLOs, want)
	}
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
