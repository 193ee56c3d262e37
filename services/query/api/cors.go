package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSConfig lets web pages of other origins read the API. With no
// allowed_origins the API sends no CORS headers at all (browsers then keep
// other origins' pages out) and answers OPTIONS 405.
type CORSConfig struct {
	// AllowedOrigins are the origins allowed ("https://status.example.com",
	// scheme, host and port as the browser sends them), or "*" for any.
	AllowedOrigins []string `koanf:"allowed_origins"`
	// AllowedMethods are the methods a preflight may ask for.
	AllowedMethods []string `koanf:"allowed_methods"`
	// AllowedHeaders are the request headers a preflight may ask for
	// (case-insensitive); Authorization is what a page sending a token needs.
	AllowedHeaders []string `koanf:"allowed_headers"`
	// AllowCredentials lets pages send cookies and TLS client certificates
	// (a bearer token needs only Authorization in allowed_headers); it
	// cannot be used with the origin "*".
	AllowCredentials bool `koanf:"allow_credentials"`
	// MaxAge is how long a browser may cache a preflight's answer.
	MaxAge time.Duration `koanf:"max_age"`
}

// DefaultCORS is off, with the methods, headers and cache time an origin
// given with allowed_origins gets.
func DefaultCORS() CORSConfig {
	return CORSConfig{AllowedMethods: []string{"GET", "HEAD"}, AllowedHeaders: []string{"Authorization"}, MaxAge: 10 * time.Minute}
}

// Validate names the offending key; prefix is the section's key.
func (c CORSConfig) Validate(prefix string) error {
	for i, o := range c.AllowedOrigins {
		if o == "*" {
			if c.AllowCredentials {
				return fmt.Errorf("%s.allowed_origins: \"*\" cannot be used with %s.allow_credentials (browsers refuse it); list the origins", prefix, prefix)
			}
			continue
		}
		if err := validOrigin(o); err != nil {
			return fmt.Errorf("%s.allowed_origins[%d]: %q: %w", prefix, i, o, err)
		}
	}
	for i, m := range c.AllowedMethods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) {
			return fmt.Errorf("%s.allowed_methods[%d]: %q: want an upper-case method such as GET", prefix, i, m)
		}
	}
	for i, h := range c.AllowedHeaders {
		if h == "" || strings.ContainsAny(h, " ,:;\t\"") {
			return fmt.Errorf("%s.allowed_headers[%d]: %q: want a header name", prefix, i, h)
		}
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("%s.max_age: %s must not be negative", prefix, c.MaxAge)
	}
	return nil
}

func validOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" ||
		u.User != nil || u.Fragment != "" {
		return errors.New(`want scheme://host[:port], e.g. "https://status.example.com", or "*"`)
	}
	return nil
}

// cors applies a CORSConfig.
type cors struct {
	c       CORSConfig
	any     bool
	methods string
	headers string
	maxAge  string
}

func newCORS(c CORSConfig) *cors {
	if len(c.AllowedOrigins) == 0 {
		return nil
	}
	return &cors{c: c, any: slices.Contains(c.AllowedOrigins, "*"), methods: strings.Join(c.AllowedMethods, ", "),
		headers: strings.Join(c.AllowedHeaders, ", "), maxAge: strconv.Itoa(int(c.MaxAge.Seconds()))}
}

func (c *cors) allowed(origin string) bool {
	return origin != "" && (c.any || slices.Contains(c.c.AllowedOrigins, origin))
}

// handle sets the CORS headers of r's answer, and answers a preflight
// itself (true: nothing more to do).
func (c *cors) handle(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if !c.allowed(origin) {
		if preflight {
			// Without the allow headers the browser refuses the request.
			w.WriteHeader(http.StatusNoContent)
		}
		return preflight
	}
	if c.any && !c.c.AllowCredentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		// A page reading a 429 needs to see when to come back.
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		return false
	}
	if c.methodAllowed(r.Header.Get("Access-Control-Request-Method")) && c.headersAllowed(r.Header.Values("Access-Control-Request-Headers")) {
		h.Set("Access-Control-Allow-Methods", c.methods)
		if c.headers != "" {
			h.Set("Access-Control-Allow-Headers", c.headers)
		}
		h.Set("Access-Control-Max-Age", c.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (c *cors) methodAllowed(m string) bool { return slices.Contains(c.c.AllowedMethods, m) }

func (c *cors) headersAllowed(lists []string) bool {
	for _, l := range lists {
		for name := range strings.SplitSeq(l, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !slices.ContainsFunc(c.c.AllowedHeaders, func(a string) bool { return strings.EqualFold(a, name) }) {
				return false
			}
		}
	}
	return true
}
