package query

import (
	"testing"

	"github.com/picket-dev/picket/platform/config/configtest"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-addr.yaml":                      "config: addr: must not be empty",
		"invalid-dial-timeout.yaml":              "config: clickhouse.dial_timeout: -1s must not be negative",
		"invalid-unknown-key.yaml":               `config: unknown key "listen"`,
		"invalid-request-timeout.yaml":           "config: request_timeout: 0s must be positive",
		"invalid-request-timeout-too-long.yaml":  "config: request_timeout: 10m0s is longer than the maximum 5m0s",
		"invalid-cors-wildcard-credentials.yaml": `config: cors.allowed_origins: "*" cannot be used with cors.allow_credentials (browsers refuse it); list the origins`,
		"invalid-auth-short-token.yaml":          "config: auth.tokens[0]: a token of 7 characters is shorter than the minimum 16",
		"invalid-rate-limit-proxy.yaml":          `config: rate_limit.trusted_proxies: "proxy.internal": want an IP address or CIDR prefix`,
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}
