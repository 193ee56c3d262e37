package notifier

import (
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/config/configtest"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-webhook-url.yaml":           `config: webhooks[0].url: "slack.example.com/hook" is not an http(s) URL`,
		"invalid-webhook-name.yaml":          "config: webhooks[0].name: required",
		"invalid-duplicate-name.yaml":        `config: webhooks[1].name: "ops" is used twice`,
		"invalid-unknown-key.yaml":           `config: unknown key "webhooks[0].secrett"`,
		"invalid-route-destination.yaml":     `config: routes[0].destinations[1]: "pager" is not a configured destination`,
		"invalid-route-state.yaml":           `config: routes[0].match.states[1]: "broken", want one of [up down degraded stale]`,
		"invalid-group-by-without-wait.yaml": "config: routes[0].group_wait: required with group_by",
		"invalid-max-attempts.yaml":          "config: delivery.policy.max_attempts: 0, must be at least 1",
		"invalid-policy-destination.yaml":    "config: delivery.destinations.opps: no destination has this name",
		"invalid-repeat-interval.yaml":       "config: routes[0].repeat_interval: -1h0m0s must not be negative",
		"invalid-concurrency.yaml":           "config: delivery.destinations.ops.concurrency: 100, must be 1 to 64",

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

// A configuration with routes, grouping and per-destination policies loads
// as written, and the policies merge over the defaults.
func TestRoutesConfigLoads(t *testing.T) {
	cfg := DefaultConfig()
	if err := config.Load(&cfg, DefaultConfig(), config.Source{File: "testdata/routes.yaml"}); err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes
	if len(r) != 2 || !r[0].Continue || r[0].Match.Labels["team"] != "payments" || r[1].GroupWait != 30*time.Second ||
		r[1].RepeatInterval != 4*time.Hour || r[1].sendResolved() || !r[0].sendResolved() {
		t.Fatalf("routes %+v", r)
	}
	p := cfg.Delivery.forDestination("pager", "pagerduty")
	if p.MaxAttempts != 5 || p.MaxAge != 2*time.Hour || p.RatePerSecond != 2 || p.BackoffInitial != time.Second {
		t.Fatalf("pager policy %+v", p)
	}
	if p := cfg.Delivery.forDestination("ops", "slack"); p.RatePerSecond != 1 || p.MaxAge != 30*time.Minute {
		t.Fatalf("ops policy %+v: want slack's 1/s and the delivery-wide max_age", p)
	}
}
