package notifier

import (
	"github.com/picket-dev/picket/platform/config/configtest"
	"testing"
)

func TestConfigRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-webhook-url.yaml":    `config: webhooks[0].url: "slack.example.com/hook" is not an http(s) URL`,
		"invalid-webhook-name.yaml":   "config: webhooks[0].name: required",
		"invalid-duplicate-name.yaml": `config: webhooks[1].name: "ops" is used twice`,
		"invalid-unknown-key.yaml":    `config: unknown key "webhooks[0].secrett"`,
	}
	configtest.RefusesInvalidFiles(t, func() any { c := DefaultConfig(); return &c }, want)
}
