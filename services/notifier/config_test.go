package notifier

import (
	"testing"

	"github.com/picket-dev/picket/platform/config/configtest"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-webhook-url.yaml":    `config: webhooks[0].url: "slack.example.com/hook" is not an http(s) URL`,
		"invalid-webhook-name.yaml":   "config: webhooks[0].name: required",
		"invalid-duplicate-name.yaml": `config: webhooks[1].name: "ops" is used twice`,
		"invalid-unknown-key.yaml":    `config: unknown key "webhooks[0].secrett"`,

		"invalid-destination-url.yaml":            `config: destinations[2].url: "hooks.slack.com/…" is not an http(s) URL`,
		"invalid-destination-kind.yaml":           `config: destinations[0].kind: "sms" is not one of webhook, slack, pagerduty, discord, teams`,
		"invalid-destination-template.yaml":       `config: destinations[0].template.text: text:1:21: Data has no field "Sate"`,
		"invalid-destination-secret.yaml":         `config: destinations[0].secret: secret 1 does not start with "whsec_"`,
		"invalid-destination-secret-kind.yaml":    "config: destinations[0].secret: not used by kind discord",
		"invalid-destination-routing-key.yaml":    "config: destinations[0].routing_key: required (or routing_key_env, routing_key_file)",
		"invalid-destination-two-sources.yaml":    "config: destinations[0].url: set only one of url, url_env, url_file",
		"invalid-destination-duplicate-name.yaml": `config: destinations[0].name: "ops" is used twice`,
		"invalid-destination-timeout.yaml":        "config: destinations[0].timeout: -1s must not be negative",
		"invalid-destination-allow.yaml":          `config: destinations[0].safety.allow[1]: "10.0.0.0/33" is not a CIDR: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`,
		"invalid-safety-allow.yaml":               `config: safety.allow[0]: "not a host!" is neither a CIDR, an address nor a host name`,
		"invalid-links.yaml":                      `config: links.base_url: "picket.example.com" is not an http(s) URL`,
		"invalid-destination-severity.yaml":       `config: destinations[0].severity.degraded: "minor" is not one of critical, error, warning, info`,
		"invalid-destination-unknown-key.yaml":    `config: unknown key "destinations[0].routingkey"`,
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}
