package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is how much of a body an HTTP check reads by default.
const DefaultMaxBodyBytes = 1 << 20

// defaultTransport serves every check that sets no transport option. It keeps
// no connections (a fresh one per run), so sharing it shares no state between
// checks; 10,000 checks then cost one transport, not 10,000.
var defaultTransport = newTransport()

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DisableKeepAlives:   true,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
	}
}

// ownTransport reports whether h needs a transport of its own.
func (h *HTTP) ownTransport() bool {
	return h.TLS != nil || h.KeepAlive || h.IPVersion != "" || h.HTTPVersion == "1.1" || h.Proxy != ""
}

// httpCompiled is what loading an HTTP check prepares for its runs.
type httpCompiled struct {
	url       string
	body      string
	authUser  string
	authPass  string
	bearer    string
	transport *http.Transport
}

// RequestURL is the URL with the query parameters added.
func (h *HTTP) RequestURL() string { return h.compiled.url }

// BuildURL adds the query parameters to raw (a URL with its variables, if
// any, already expanded).
func (h *HTTP) BuildURL(raw string) (string, error) {
	if len(h.Query) == 0 {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for k, v := range h.Query {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// RequestBody is the body, from Body or BodyFile.
func (h *HTTP) RequestBody() string { return h.compiled.body }

// Transport is the check's own transport, built once at load.
func (h *HTTP) Transport() *http.Transport { return h.compiled.transport }

// Authorize adds the configured credentials to req.
func (h *HTTP) Authorize(req *http.Request) {
	switch {
	case h.compiled.authUser != "":
		req.SetBasicAuth(h.compiled.authUser, h.compiled.authPass)
	case h.compiled.bearer != "":
		req.Header.Set("Authorization", "Bearer "+h.compiled.bearer)
	}
}

// RedirectLimit is the number of redirects followed.
func (h *HTTP) RedirectLimit() int {
	if h.MaxRedirects == nil {
		return 10
	}
	return *h.MaxRedirects
}

// BodyLimit is the most body bytes read.
func (h *HTTP) BodyLimit() int64 {
	if h.MaxBodyBytes == 0 {
		return DefaultMaxBodyBytes
	}
	return h.MaxBodyBytes
}

func secret(field, env string) (string, error) {
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return "", fmt.Errorf("%s: environment variable %s is not set", field, env)
	}
	return v, nil
}

// validate checks the request and its options without reading anything;
// field is how errors name h ("http", or "journey.steps[1]" for a step).
func (h *HTTP) validate(field string) error {
	if _, err := h.BuildURL(h.URL); err != nil {
		return fmt.Errorf("%s.url: %w", field, err)
	}
	switch {
	case h.BodyFile != "" && h.Body != "":
		return fmt.Errorf("%s.body_file: give body or body_file, not both", field)
	case h.BasicAuth != nil && h.BearerTokenEnv != "":
		return fmt.Errorf("%s.bearer_token_env: give basic_auth or bearer_token_env, not both", field)
	case h.BasicAuth != nil && h.BasicAuth.Username == "":
		return fmt.Errorf("%s.basic_auth.username: required", field)
	case h.BasicAuth != nil && h.BasicAuth.PasswordEnv == "":
		return fmt.Errorf("%s.basic_auth.password_env: required (passwords never go in the checks file)", field)
	case h.MaxRedirects != nil && (*h.MaxRedirects < 0 || *h.MaxRedirects > 30):
		return fmt.Errorf("%s.max_redirects: %d must be from 0 to 30", field, *h.MaxRedirects)
	case h.MaxBodyBytes < 0:
		return fmt.Errorf("%s.max_body_bytes: %d must not be negative", field, h.MaxBodyBytes)
	case h.IPVersion != "" && h.IPVersion != "4" && h.IPVersion != "6":
		return fmt.Errorf("%s.ip_version: %q is not 4 or 6", field, h.IPVersion)
	case h.HTTPVersion != "" && h.HTTPVersion != "1.1" && h.HTTPVersion != "2":
		return fmt.Errorf("%s.http_version: %q is not 1.1 or 2", field, h.HTTPVersion)
	}
	if h.Proxy != "" {
		p, err := url.Parse(h.Proxy)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s.proxy: %q is not an http(s) URL", field, h.Proxy)
		}
	}
	u, err := url.Parse(h.URL)
	switch {
	case h.URL == "":
		return fmt.Errorf("%s.url: required", field)
	case err != nil:
		return fmt.Errorf("%s.url: %w", field, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s.url: %q must be an http or https URL", field, h.URL)
	case u.Host == "":
		return fmt.Errorf("%s.url: %q has no host", field, h.URL)
	case !slices.Contains(methods, h.Method):
		return fmt.Errorf("%s.method: %q is not one of %s", field, h.Method, strings.Join(methods, ", "))
	}
	for i, s := range h.ExpectedStatus {
		if s < 100 || s > 599 {
			return fmt.Errorf("%s.expected_status[%d]: %d is not an HTTP status", field, i, s)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fmt.Errorf("%s.headers: %q is not a valid header name", field, k)
		}
	}
	return nil
}

// compile prepares the request parts and the transport of a validated h,
// reading its ca_file, body_file and secrets: it runs on the prober.
func (h *HTTP) compile(field string) error {
	if err := h.TLS.load(field + ".tls"); err != nil {
		return err
	}
	full, err := h.BuildURL(h.URL)
	if err != nil {
		return fmt.Errorf("%s.url: %w", field, err)
	}
	c := httpCompiled{url: full, body: h.Body}
	if h.BodyFile != "" {
		b, err := os.ReadFile(h.BodyFile)
		if err != nil {
			return fmt.Errorf("%s.body_file: %w", field, err)
		}
		c.body = string(b)
	}
	switch {
	case h.BasicAuth != nil:
		c.authUser = h.BasicAuth.Username
		if c.authPass, err = secret(field+".basic_auth.password_env", h.BasicAuth.PasswordEnv); err != nil {
			return err
		}
	case h.BearerTokenEnv != "":
		if c.bearer, err = secret(field+".bearer_token_env", h.BearerTokenEnv); err != nil {
			return err
		}
	}
	if !h.ownTransport() {
		c.transport = defaultTransport
		h.compiled = c
		return nil
	}
	t := newTransport()
	t.DisableKeepAlives = !h.KeepAlive
	if h.TLS != nil {
		t.TLSClientConfig = h.TLS.Config("")
	}
	network := "tcp" + h.IPVersion
	dialer := &net.Dialer{}
	t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	if h.HTTPVersion == "1.1" {
		t.ForceAttemptHTTP2 = false
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	if h.Proxy != "" {
		p, err := url.Parse(h.Proxy)
		if err != nil {
			return fmt.Errorf("%s.proxy: %w", field, err)
		}
		t.Proxy = http.ProxyURL(p)
	}
	c.transport = t
	h.compiled = c
	return nil
}

// isCompiled reports whether compile prepared h.
func (h *HTTP) isCompiled() bool { return h.compiled.transport != nil }
