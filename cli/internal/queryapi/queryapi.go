// Package queryapi is the picket CLI's client of the query service's HTTP
// API: where it is (--query-url, PICKET_QUERY_URL) and the bearer token it
// sends (--token, PICKET_TOKEN), and its problem documents as errors. It
// never prints or logs the token.
package queryapi

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// URLEnv and TokenEnv are the environment's defaults of --query-url and
	// --token.
	URLEnv   = "PICKET_QUERY_URL"
	TokenEnv = "PICKET_TOKEN"
	// DefaultURL is `picket dev`'s query_addr.
	DefaultURL = "http://127.0.0.1:8080"
)

// Flags are a command's query API flags.
type Flags struct {
	url, token string
	getenv     func(string) string
}

// AddFlags registers --query-url and --token on fs. Their defaults come
// from getenv (os.Getenv) when the client is made, so -h never shows the
// token.
func AddFlags(fs *flag.FlagSet, getenv func(string) string) *Flags {
	f := &Flags{getenv: getenv}
	fs.StringVar(&f.url, "query-url", "", "the query API's `URL` (default $"+URLEnv+", else "+DefaultURL+")")
	fs.StringVar(&f.token, "token", "", "the bearer `token` the query API wants when its auth is on (default $"+TokenEnv+")")
	return f
}

// URLGiven reports whether --query-url or PICKET_QUERY_URL names the API.
func (f *Flags) URLGiven() bool { return f.url != "" || f.getenv(URLEnv) != "" }

// Client is the flags' client, once they are parsed.
func (f *Flags) Client() (*Client, error) { return f.ClientOr(DefaultURL) }

// ClientOr is Client with fallback as the URL when neither --query-url nor
// PICKET_QUERY_URL gives one (a running `picket dev`'s).
func (f *Flags) ClientOr(fallback string) (*Client, error) {
	u := f.url
	if u == "" {
		u = f.getenv(URLEnv)
	}
	if u == "" {
		u = fallback
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("--query-url %q: want http(s)://host:port", u)
	}
	tok := f.token
	if tok == "" {
		tok = f.getenv(TokenEnv)
	}
	return &Client{URL: strings.TrimSuffix(u, "/"), Token: strings.TrimSpace(tok), HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Client calls the query API.
type Client struct {
	URL   string
	Token string // empty: none sent
	HTTP  *http.Client
}

// Error is an answer other than 2xx, from its problem document.
type Error struct {
	Status int
	Detail string
	Path   string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("query API %s: %d %s", e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (give the token with --token or " + TokenEnv + ")"
	}
	return msg
}

// Get GETs path (under /api/v1, with query) and decodes its JSON into out.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	u := c.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("query API %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("query API %s: %w (is the query service, or `picket dev`, running at %s? --query-url)", path, err, c.URL)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("query API %s: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode, Path: path}
		var p struct {
			Detail string `json:"detail"`
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" && json.Unmarshal(body, &p) == nil {
			e.Detail = p.Detail
		}
		if s := resp.Header.Get("Retry-After"); s != "" && resp.StatusCode == http.StatusTooManyRequests {
			e.Detail += " (Retry-After " + s + " s)"
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("query API %s: %w", path, err)
	}
	return nil
}

// IsStatus reports whether err is an answer with status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}
