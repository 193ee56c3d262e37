package prober

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/config/configtest"

	"github.com/picket-dev/picket/platform/config"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-unknown-key.yaml":     `config: unknown key "kafka.brokerz"`,
		"invalid-no-brokers.yaml":      "config: kafka.brokers: at least one broker is required",
		"invalid-empty-location.yaml":  "config: location: must not be empty",
		"invalid-flush-timeout.yaml":   "config: flush_timeout: time: invalid duration",
		"invalid-log-format.yaml":      `config: log.format: "xml" is not one of auto, json, text`,
		"invalid-source.yaml":          `config: source: "etcd" is not file or kafka`,
		"invalid-partitions.yaml":      "config: kafka.partitions: 0, must be at least 1",
		"invalid-shutdown-grace.yaml":  "config: shutdown_grace: 0s must be positive",
		"invalid-max-concurrency.yaml": "config: max_concurrency: -1 must be at least 1 (or 0 for 256 per CPU)",
		"invalid-max-start-delay.yaml": "config: max_start_delay: 0s must be positive",
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}

func TestConfigLayers(t *testing.T) {
	cfg := DefaultConfig()
	err := config.Load(&cfg, DefaultConfig(), config.Source{
		File:    "testdata/valid.yaml",
		Environ: []string{"PICKET_KAFKA__RESULTS_TOPIC=results.custom", "PICKET_LOCATION=from-env", "HOME=/root"},
		Sets:    []string{"location=from-flag", "flush_timeout=3s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Kafka.Brokers, ",") != "kafka-1:9092,kafka-2:9092" || cfg.Kafka.ResultsTopic != "results.custom" ||
		cfg.Location != "from-flag" || cfg.FlushTimeout != 3*time.Second || cfg.Log.Level != "debug" ||
		cfg.Kafka.AlertsTopic != DefaultConfig().Kafka.AlertsTopic {
		t.Fatalf("layers not applied in order: %+v", cfg)
	}
}

func TestConfigEnvUnknownKey(t *testing.T) {
	cfg := DefaultConfig()
	err := config.Load(&cfg, DefaultConfig(), config.Source{Environ: []string{"PICKET_KAFKA__BROKER=x:1"}})
	if err == nil || err.Error() != `config: unknown key "kafka.broker"` {
		t.Fatalf("error %v", err)
	}
}

func TestConfigMissingFile(t *testing.T) {
	cfg := DefaultConfig()
	err := config.Load(&cfg, DefaultConfig(), config.Source{File: filepath.Join(t.TempDir(), "nope.yaml")})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("error %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestDefaultMaxConcurrencyFollowsGOMAXPROCS(t *testing.T) {
	cfg := DefaultConfig()
	if got, want := cfg.concurrency(), DefaultRunsPerCPU*runtime.GOMAXPROCS(0); cfg.MaxConcurrency != 0 || got != want {
		t.Fatalf("max_concurrency %d gives %d, want %d", cfg.MaxConcurrency, got, want)
	}
	cfg.MaxConcurrency = 3
	if got := cfg.concurrency(); got != 3 {
		t.Fatalf("max_concurrency 3 gives %d", got)
	}
}
