package aggregator

import (
	"github.com/picket-dev/picket/platform/config/configtest"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/config"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-database.yaml":        `config: clickhouse.database: database name "picket-prod": want letters, digits and underscores, not starting with a digit`,
		"invalid-threshold.yaml":       "config: alerting.default.threshold: 80 must be in (0, 1]",
		"invalid-override-window.yaml": "config: alerting.checks.checkout.window: 0s must be positive",
		"invalid-batch.yaml":           "config: batch_max_records: 0 must be at least 1",
		"invalid-unknown-key.yaml":     `config: unknown key "alerting.default.treshold"`,
		"invalid-no-clickhouse.yaml":   "config: clickhouse.addr: at least one address is required",
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}

func TestConfigPerCheckRule(t *testing.T) {
	cfg := DefaultConfig()
	err := config.Load(&cfg, DefaultConfig(), config.Source{Sets: []string{
		"alerting.checks.checkout.threshold=0.95", "alerting.checks.checkout.window=5m",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Alerting.For("checkout"); r.Threshold != 0.95 || r.Window != 5*time.Minute {
		t.Fatalf("override %+v", r)
	}
	if r := cfg.Alerting.For("other"); r.Threshold != 0.8 || r.Window != 2*time.Minute {
		t.Fatalf("default %+v", r)
	}
}
