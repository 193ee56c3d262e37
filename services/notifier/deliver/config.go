package deliver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/picket-dev/picket/services/notifier/safedial"
)

// Kinds are the destination kinds, each a file in this package.
var Kinds = []string{"webhook", "slack", "pagerduty", "discord", "teams"}

// DestinationConfig is one entry of `destinations[]`. A secret — the URL
// (a token for Slack, Discord and Teams), the signing secret, the routing
// key — comes from the value itself, from an environment variable (`*_env`)
// or from a file (`*_file`, trailing newline ignored): exactly one of the
// three.
type DestinationConfig struct {
	Name string `koanf:"name"`
	Kind string `koanf:"kind"`

	URL     string `koanf:"url"`
	URLEnv  string `koanf:"url_env"`
	URLFile string `koanf:"url_file"`

	// Secret (webhook): one or more whitespace-separated "whsec_<base64>"
	// signing secrets.
	Secret     string `koanf:"secret"`
	SecretEnv  string `koanf:"secret_env"`
	SecretFile string `koanf:"secret_file"`

	// RoutingKey (pagerduty): the Events API v2 integration key.
	RoutingKey     string `koanf:"routing_key"`
	RoutingKeyEnv  string `koanf:"routing_key_env"`
	RoutingKeyFile string `koanf:"routing_key_file"`

	// Severity (pagerduty) overrides the severity of "down" (default
	// critical) and "degraded" (default warning): critical, error, warning
	// or info.
	Severity map[string]string `koanf:"severity"`

	Template TemplateConfig `koanf:"template"`
	// Timeout bounds one request; 0 means 10s.
	Timeout time.Duration `koanf:"timeout"`
	// MaxBodyBytes is how much of a response is read; 0 means 64 KiB.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// Safety adds to the global safety.allow for this destination only.
	Safety safedial.Config `koanf:"safety"`
}

type secretRef struct {
	name              string // the key without suffix: "url", "secret", "routing_key"
	value, env, file  string
	required, allowed bool
}

func (c DestinationConfig) refs() []secretRef {
	return []secretRef{
		{name: "url", value: c.URL, env: c.URLEnv, file: c.URLFile, required: c.Kind != "pagerduty", allowed: true},
		{name: "secret", value: c.Secret, env: c.SecretEnv, file: c.SecretFile, allowed: c.Kind == "webhook"},
		{name: "routing_key", value: c.RoutingKey, env: c.RoutingKeyEnv, file: c.RoutingKeyFile,
			required: c.Kind == "pagerduty", allowed: c.Kind == "pagerduty"},
	}
}

// Validate checks what can be checked without reading the environment or
// files; key is the entry's path ("destinations[2]"). Errors name the key
// and never contain a secret value.
func (c DestinationConfig) Validate(key string) error {
	if c.Name == "" {
		return fmt.Errorf("%s.name: required", key)
	}
	if strings.ContainsAny(c.Name, " \t\n/") {
		return fmt.Errorf("%s.name: %q must not contain spaces or slashes", key, c.Name)
	}
	known := false
	for _, k := range Kinds {
		known = known || k == c.Kind
	}
	if !known {
		return fmt.Errorf("%s.kind: %q is not one of %s", key, c.Kind, strings.Join(Kinds, ", "))
	}
	for _, r := range c.refs() {
		set := 0
		for _, v := range []string{r.value, r.env, r.file} {
			if v != "" {
				set++
			}
		}
		switch {
		case set > 0 && !r.allowed:
			return fmt.Errorf("%s.%s: not used by kind %s", key, r.name, c.Kind)
		case set > 1:
			return fmt.Errorf("%s.%s: set only one of %s, %s_env, %s_file", key, r.name, r.name, r.name, r.name)
		case set == 0 && r.required:
			return fmt.Errorf("%s.%s: required (or %s_env, %s_file)", key, r.name, r.name, r.name)
		}
		if r.value != "" {
			if err := checkSecretValue(r.name, r.value); err != nil {
				return fmt.Errorf("%s.%s: %w", key, r.name, err)
			}
		}
	}
	if len(c.Severity) > 0 && c.Kind != "pagerduty" {
		return fmt.Errorf("%s.severity: not used by kind %s", key, c.Kind)
	}
	for _, state := range sortedKeys(c.Severity) {
		if state != "down" && state != "degraded" {
			return fmt.Errorf("%s.severity.%s: only down and degraded have a severity", key, state)
		}
		switch c.Severity[state] {
		case "critical", "error", "warning", "info":
		default:
			return fmt.Errorf("%s.severity.%s: %q is not one of critical, error, warning, info", key, state, c.Severity[state])
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%s.timeout: %s must not be negative", key, c.Timeout)
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("%s.max_body_bytes: %d must not be negative", key, c.MaxBodyBytes)
	}
	if err := c.Safety.Validate(key + ".safety.allow"); err != nil {
		return err
	}
	if _, err := ParseTemplates(c.Template); err != nil {
		return fmt.Errorf("%s.%w", key, err)
	}
	return nil
}

// checkSecretValue validates a value; the error shows a URL's scheme and
// host at most.
func checkSecretValue(name, v string) error {
	switch name {
	case "url":
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("%s is not an http(s) URL", quoteURL(v))
		}
		if u.User != nil {
			return fmt.Errorf("%s: credentials in the URL are not supported", RedactURL(v))
		}
	case "secret":
		if _, err := ParseSecrets(v); err != nil {
			return err
		}
	case "routing_key":
		if strings.TrimSpace(v) != v || v == "" || len(v) > 64 {
			return errors.New("not an Events API v2 integration key")
		}
	}
	return nil
}

// quoteURL shows a URL that failed to parse: if it has no scheme it is not
// a secret-bearing URL anyone could use, but its path may still be a token,
// so only the part before the first slash is shown.
func quoteURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return fmt.Sprintf("%q", RedactURL(v))
	}
	head, _, cut := strings.Cut(v, "/")
	if cut {
		head += "/…"
	}
	return fmt.Sprintf("%q", head)
}

// Options are what building sinks needs beyond their configuration.
type Options struct {
	// Safety is the global allowlist (`safety.allow`).
	Safety safedial.Config
	Links  LinksConfig
	// Getenv and ReadFile resolve *_env and *_file; nil means the process's.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// LookupNetIP and BeforeConnect, when set, go to the dialer (tests).
	LookupNetIP   func(ctx context.Context, network, host string) ([]netip.Addr, error)
	BeforeConnect func(network string, addr netip.AddrPort)
	// Now stamps webhook-timestamp; nil means time.Now.
	Now func() time.Time
}

func (o Options) resolve(key string, r secretRef) (string, error) {
	getenv, readFile := o.Getenv, o.ReadFile
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	switch {
	case r.env != "":
		v := getenv(r.env)
		if v == "" {
			return "", fmt.Errorf("%s.%s_env: environment variable %s is empty or not set", key, r.name, r.env)
		}
		return strings.TrimSpace(v), nil
	case r.file != "":
		b, err := readFile(r.file)
		if err != nil {
			return "", fmt.Errorf("%s.%s_file: %w", key, r.name, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s.%s_file: %s is empty", key, r.name, r.file)
		}
		return v, nil
	}
	return r.value, nil
}

// Build makes the sink for c (already validated), reading its secrets from
// the environment or files. key names the entry in errors.
func Build(key string, c DestinationConfig, o Options) (Sink, error) {
	vals := map[string]string{}
	for _, r := range c.refs() {
		v, err := o.resolve(key, r)
		if err != nil {
			return nil, err
		}
		if v != "" && (r.env != "" || r.file != "") {
			if err := checkSecretValue(r.name, v); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", key, r.name+map[bool]string{true: "_env", false: "_file"}[r.env != ""], err)
			}
		}
		vals[r.name] = v
	}
	tmpl, err := ParseTemplates(c.Template)
	if err != nil {
		return nil, fmt.Errorf("%s.%w", key, err)
	}
	u := vals["url"]
	if c.Kind == "pagerduty" && u == "" {
		u = PagerDutyURL
	}
	p, err := o.poster(key, c, u, vals["secret"], vals["routing_key"])
	if err != nil {
		return nil, err
	}
	now := p.now
	switch c.Kind {
	case "webhook":
		keys, err := ParseSecrets(vals["secret"])
		if err != nil {
			return nil, fmt.Errorf("%s.secret: %w", key, err)
		}
		return &Webhook{p: p, keys: keys, tmpl: tmpl, links: o.Links, now: now}, nil
	case "slack":
		return &Slack{p: p, tmpl: tmpl, links: o.Links}, nil
	case "pagerduty":
		return &PagerDuty{p: p, routingKey: vals["routing_key"], severity: c.Severity, tmpl: tmpl, links: o.Links}, nil
	case "discord":
		return &Discord{p: p, tmpl: tmpl, links: o.Links}, nil
	case "teams":
		return &Teams{p: p, tmpl: tmpl, links: o.Links}, nil
	}
	return nil, fmt.Errorf("%s.kind: %q is not one of %s", key, c.Kind, strings.Join(Kinds, ", "))
}

func (o Options) poster(key string, c DestinationConfig, u string, secrets ...string) (*poster, error) {
	global, err := safedial.Compile(o.Safety.Allow...)
	if err != nil {
		return nil, fmt.Errorf("safety.allow%w", err)
	}
	local, err := safedial.Compile(c.Safety.Allow...)
	if err != nil {
		return nil, fmt.Errorf("%s.safety.allow%w", key, err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	client := safedial.Client(&safedial.Dialer{
		Policy: global.Merge(local), Timeout: timeout, LookupNetIP: o.LookupNetIP, BeforeConnect: o.BeforeConnect,
	}, timeout)
	p := newPoster(c.Name, c.Kind, u, client, c.MaxBodyBytes, secrets...)
	if o.Now != nil {
		p.now = o.Now
	}
	return p, nil
}

// LegacyWebhook is a `webhooks[]` entry (already validated): a generic
// webhook whose secret is used as is (not whsec_), sending the X-Picket-*
// headers besides the standard ones so existing receivers keep working
// while they migrate.
func LegacyWebhook(key, name, rawURL, secret string, timeout time.Duration, o Options) (*Webhook, error) {
	p, err := o.poster(key, DestinationConfig{Name: name, Kind: "webhook", Timeout: timeout}, rawURL, secret)
	if err != nil {
		return nil, err
	}
	w := &Webhook{p: p, legacy: []byte(secret), tmpl: defaultTemplates, links: o.Links, now: p.now}
	if secret != "" {
		w.keys = [][]byte{[]byte(secret)}
	}
	return w, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
