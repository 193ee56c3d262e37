package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
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

// compile validates the options and prepares the request parts and transport.
func (h *HTTP) compile() error {
	full, err := h.BuildURL(h.URL)
	if err != nil {
		return fmt.Errorf("http.url: %w", err)
	}
	c := httpCompiled{url: full, body: h.Body}
	switch {
	case h.BodyFile != "" && h.Body != "":
		return errors.New("http.body_file: give body or body_file, not both")
	case h.BodyFile != "":
		b, err := os.ReadFile(h.BodyFile)
		if err != nil {
			return fmt.Errorf("http.body_file: %w", err)
		}
		c.body = string(b)
	}
	switch {
	case h.BasicAuth != nil && h.BearerTokenEnv != "":
		return errors.New("http.bearer_token_env: give basic_auth or bearer_token_env, not both")
	case h.BasicAuth != nil:
		if h.BasicAuth.Username == "" {
			return errors.New("http.basic_auth.username: required")
		}
		if h.BasicAuth.PasswordEnv == "" {
			return errors.New("http.basic_auth.password_env: required (passwords never go in the checks file)")
		}
		c.authUser = h.BasicAuth.Username
		if c.authPass, err = secret("http.basic_auth.password_env", h.BasicAuth.PasswordEnv); err != nil {
			return err
		}
	case h.BearerTokenEnv != "":
		if c.bearer, err = secret("http.bearer_token_env", h.BearerTokenEnv); err != nil {
			return err
		}
	}
	if h.MaxRedirects != nil && (*h.MaxRedirects < 0 || *h.MaxRedirects > 30) {
		return fmt.Errorf("http.max_redirects: %d must be from 0 to 30", *h.MaxRedirects)
	}
	if h.MaxBodyBytes < 0 {
		return fmt.Errorf("http.max_body_bytes: %d must not be negative", h.MaxBodyBytes)
	}
	network := "tcp"
	switch h.IPVersion {
	case "":
	case "4", "6":
		network += h.IPVersion
	default:
		return fmt.Errorf("http.ip_version: %q is not 4 or 6", h.IPVersion)
	}
	if !h.ownTransport() {
		if h.HTTPVersion != "" && h.HTTPVersion != "2" {
			return fmt.Errorf("http.http_version: %q is not 1.1 or 2", h.HTTPVersion)
		}
		c.transport = defaultTransport
		h.compiled = c
		return nil
	}
	t := newTransport()
	t.DisableKeepAlives = !h.KeepAlive
	if h.TLS != nil {
		t.TLSClientConfig = h.TLS.Config("")
	}
	dialer := &net.Dialer{}
	t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	switch h.HTTPVersion {
	case "", "2":
	case "1.1":
		t.ForceAttemptHTTP2 = false
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	default:
		return fmt.Errorf("http.http_version: %q is not 1.1 or 2", h.HTTPVersion)
	}
	if h.Proxy != "" {
		p, err := url.Parse(h.Proxy)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("http.proxy: %q is not an http(s) URL", h.Proxy)
		}
		t.Proxy = http.ProxyURL(p)
	}
	c.transport = t
	h.compiled = c
	return nil
}
