package query

import (
	"path/filepath"
	"testing"

	"github.com/picket-dev/picket/platform/config"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-addr.yaml":         "config: addr: must not be empty",
		"invalid-dial-timeout.yaml": "config: clickhouse.dial_timeout: -1s must not be negative",
		"invalid-unknown-key.yaml":  `config: unknown key "listen"`,
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
