package query

import (
	"testing"

	"github.com/picket-dev/picket/platform/config/configtest"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-addr.yaml":                     "config: addr: must not be empty",
		"invalid-dial-timeout.yaml":             "config: clickhouse.dial_timeout: -1s must not be negative",
		"invalid-unknown-key.yaml":              `config: unknown key "listen"`,
		"invalid-request-timeout.yaml":          "config: request_timeout: 0s must be positive",
		"invalid-request-timeout-too-long.yaml": "config: request_timeout: 10m0s is longer than the maximum 5m0s",
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}
