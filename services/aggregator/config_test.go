package aggregator

import (
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/config/configtest"
	"github.com/picket-dev/picket/services/aggregator/alert"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-database.yaml":        `config: clickhouse.database: database name "picket-prod": want letters, digits and underscores, not starting with a digit`,
		"invalid-threshold.yaml":       "config: alerting.rules.availability.threshold: 80 must be in (0, 1]",
		"invalid-override-window.yaml": "config: alerting.checks.checkout.rules.latency-p95.window: 0s must be positive",
		"invalid-batch.yaml":           "config: batch_max_records: 0 must be at least 1",
		"invalid-unknown-key.yaml":     `config: unknown key "alerting.rules.availability.treshold"`,
		"invalid-no-clickhouse.yaml":   "config: clickhouse.addr: at least one address is required",
		"invalid-kind.yaml":            `config: alerting.rules.slow.kind: "latencyy" is not one of [availability error_rate consecutive latency certificate burn_rate]`,
		"invalid-burn-objective.yaml":  "config: alerting.rules.slo.objective: 1.2 must be in (0, 1), e.g. 0.999",
		"invalid-burn-window.yaml":     "config: alerting.rules.slo.windows[1].short: 6h0m0s must be shorter than long (6h0m0s)",
		"invalid-silence.yaml":         "config: alerting.silences[0]: needs checks or labels, or it would silence everything",
		"invalid-silence-order.yaml":   "config: alerting.silences[0].to: 2026-11-22T02:00:00Z must be after from (2026-11-22T04:00:00Z)",
		"invalid-consecutive.yaml":     "config: alerting.rules.flapping.successes: 0 must be at least 1",
		"invalid-horizon.yaml":         "config: alerting.restore_horizon: 5m0s must be longer than the longest rule window (15m0s)",
		"invalid-max-page-age.yaml": "config: alerting.max_page_age: 20s must be longer than alerting.lateness (30s): " +
			"a transition that waited for a late result would never be paged (0 pages every transition)",
		"invalid-max-page-age-negative.yaml": "config: alerting.max_page_age: -1m0s must not be negative (0 pages every transition)",
		"invalid-stale-after.yaml":           "config: alerting.stale_after: 0 must be at least 1 (intervals without a result before a check is stale)",
		"invalid-rollup-interval.yaml":       "config: rollup_interval: 0s must be positive",
		"invalid-rollup-interval-stall.yaml": "config: rollup_interval: 6s must be at most half the stall_timeout (10s)",
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}

func TestConfigRulesPerCheck(t *testing.T) {
	cfg := DefaultConfig()
	if err := config.Load(&cfg, DefaultConfig(), config.Source{File: "testdata/alerting.yaml"}); err != nil {
		t.Fatal(err)
	}
	names := func(rs []alert.NamedRule) map[string]alert.Rule {
		m := map[string]alert.Rule{}
		for _, r := range rs {
			m[r.Name] = r.Rule
		}
		return m
	}
	co := names(cfg.Alerting.For("checkout"))
	// The override keeps the default's kind and threshold, changes the window.
	if r := co["availability"]; r.Kind != alert.KindAvailability || r.Threshold != 0.9 || r.Window != 5*time.Minute {
		t.Fatalf("checkout availability %+v", r)
	}
	if r := co["latency-p95"]; r.Limit != 800*time.Millisecond || r.Percentile != 95 {
		t.Fatalf("checkout latency %+v", r)
	}
	if r := co["slo"]; r.Kind != alert.KindBurnRate || r.Objective != 0.999 || r.MinSamples != 100 || len(r.Windows) != 2 ||
		r.Windows[1] != (alert.BurnWindow{Long: 72 * time.Hour, Short: 6 * time.Hour, Factor: 1, State: "degraded"}) {
		t.Fatalf("checkout slo %+v", r)
	}
	if len(co) != 6 {
		t.Fatalf("checkout rules %v", co)
	}
	other := names(cfg.Alerting.For("other"))
	if r := other["availability"]; r.Threshold != 0.9 || r.Window != 2*time.Minute || len(other) != 2 {
		t.Fatalf("default rules %+v", other)
	}
	if _, ok := names(cfg.Alerting.For("legacy"))["errors"]; ok {
		t.Fatal("a disabled default rule still applies")
	}
	if s := cfg.Alerting.Silences; len(s) != 1 || s[0].Labels["team"] != "payments" || s[0].From.Hour() != 2 {
		t.Fatalf("silences %+v", s)
	}
}
