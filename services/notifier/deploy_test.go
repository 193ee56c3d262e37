package notifier

import (
	"fmt"
	"testing"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/services/notifier/deliver"
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
	if fmt.Sprint(cfg.Safety.Allow) != "[demo]" {
		t.Fatalf("safety.allow %v: the demo receiver's private address would be refused", cfg.Safety.Allow)
	}
	if _, err := Sinks(cfg, deliver.Options{}); err != nil {
		t.Fatal(err)
	}
}
