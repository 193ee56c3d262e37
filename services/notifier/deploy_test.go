package notifier

import (
	"testing"

	"github.com/picket-dev/picket/platform/config"
)

// The compose deployment's notifier configuration loads.
func TestComposeConfigLoads(t *testing.T) {
	cfg := DefaultConfig()
	if err := config.Load(&cfg, DefaultConfig(), config.Source{File: "../../deploy/notifier.yaml"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].URL != "http://demo:8082/hook" {
		t.Fatalf("webhooks %+v", cfg.Webhooks)
	}
}
