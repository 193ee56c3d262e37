package notifier

import (
	"path/filepath"
	"testing"

	"github.com/picket-dev/picket/platform/config"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-webhook-url.yaml":    `config: webhooks[0].url: "slack.example.com/hook" is not an http(s) URL`,
		"invalid-webhook-name.yaml":   "config: webhooks[0].name: required",
		"invalid-duplicate-name.yaml": `config: webhooks[1].name: "ops" is used twice`,
		"invalid-unknown-key.yaml":    `config: unknown key "webhooks[0].secrett"`,
	}
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) != len(want) {
		t.Fatalf("%d invalid files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := DefaultConfig()
			err := config.Load(&cfg, DefaultConfig(), config.Source{File: f})
			if err == nil || err.Error() != want[filepath.Base(f)] {
				t.Fatalf("error %v\nwant  %s", err, want[filepath.Base(f)])
			}
		})
	}
}
