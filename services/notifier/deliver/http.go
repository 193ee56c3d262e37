package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/picket-dev/picket/services/notifier/safedial"
)

// Defaults of every HTTP destination.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 64 << 10
	// maxRetryAfter caps a destination's Retry-After: a typo'd or hostile
	// header must not park a destination for a year.
	maxRetryAfter = time.Hour
	snippetBytes  = 200
	userAgent     = "picket-notifier/1"
)

// poster is the HTTP part every sink shares: one POST, the answer read up to
// a limit and classified, every error redacted.
type poster struct {
	name, kind string
	url        string // secret: may carry a token in its path or query
	redacted   string // scheme://host
	client     *http.Client
	maxBody    int64
	secrets    scrubber
	now        func() time.Time
}

func newPoster(name, kind, rawURL string, client *http.Client, maxBody int64, secrets ...string) *poster {
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	return &poster{
		name: name, kind: kind, url: rawURL, redacted: RedactURL(rawURL), client: client, maxBody: maxBody,
		secrets: append(scrubber{rawURL}, append(secrets, urlSecrets(rawURL)...)...), now: time.Now,
	}
}

// RedactURL is what may be shown of a URL: its scheme and host.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[unparsable URL]"
	}
	return u.Scheme + "://" + u.Host
}

// urlSecrets are the parts of a URL that may be a token, to scrub from text
// that might echo them one at a time.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var s []string
	for _, part := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		// A token-like segment: long, or with digits (Slack's T0…/B0…, a
		// Discord webhook id) — not "services" or "webhooks".
		if len(part) >= 16 || len(part) >= 8 && strings.ContainsAny(part, "0123456789") {
			s = append(s, part)
		}
	}
	for _, vs := range u.Query() {
		s = append(s, vs...)
	}
	if u.RawQuery != "" {
		s = append(s, u.RawQuery)
	}
	if p, ok := u.User.Password(); ok {
		s = append(s, p)
	}
	return s
}

func (p *poster) String() string { return fmt.Sprintf("%s %s (%s)", p.kind, p.name, p.redacted) }

func (p *poster) fail(o Outcome, status int, retryAfter time.Duration, err error, format string, args ...any) *Error {
	// The prefix is safe by construction (a URL's scheme and host are not
	// secret); the detail may echo anything, so it is scrubbed.
	msg := fmt.Sprintf("%s %s: POST %s: ", p.kind, p.name, p.redacted) + p.secrets.scrub(fmt.Sprintf(format, args...))
	return &Error{Outcome: o, Status: status, RetryAfter: retryAfter, msg: msg, err: err}
}

// post sends body and classifies the answer; the response body is read up to
// maxBody bytes and returned on success.
func (p *poster) post(ctx context.Context, hdr http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		// The URL was validated at start-up; never show it.
		return nil, p.fail(Permanent, 0, 0, nil, "cannot build the request")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		// *url.Error's text holds the whole URL: keep only what it wraps.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		switch {
		case errors.Is(err, safedial.ErrRefused):
			return nil, p.fail(Permanent, 0, 0, err, "%v", err)
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return nil, p.fail(Retry, 0, 0, err, "timed out: %v", err)
		default:
			return nil, p.fail(Retry, 0, 0, err, "%v", err)
		}
	}
	defer resp.Body.Close()
	got, readErr := io.ReadAll(io.LimitReader(resp.Body, p.maxBody))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		if readErr != nil {
			// Accepted: the status is the receiver's answer; a broken body
			// after it does not undo the delivery.
			return nil, nil
		}
		return got, nil
	case code == http.StatusGone:
		return nil, p.fail(Gone, code, 0, nil, "status 410 (the destination is gone): %s", snippet(got))
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		ra := retryAfter(resp.Header.Get("Retry-After"), p.now())
		return nil, p.fail(Retry, code, ra, nil, "status %d: %s", code, snippet(got))
	case code >= 300 && code < 400:
		where := resp.Header.Get("Location")
		if where != "" {
			where = " to " + RedactURL(resolveRef(p.url, where))
		}
		return nil, p.fail(Permanent, code, 0, nil, "status %d: redirect%s not followed", code, where)
	default:
		return nil, p.fail(Permanent, code, 0, nil, "status %d: %s", code, snippet(got))
	}
}

func resolveRef(base, ref string) string {
	b, err1 := url.Parse(base)
	r, err2 := url.Parse(ref)
	if err1 != nil || err2 != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). 0 when absent, unparsable or in the past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// snippet is the start of a response body fit for an error message: printable
// characters only, cut on a character boundary.
func snippet(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, string(b))
	s = strings.TrimSpace(truncate(s, snippetBytes))
	if s == "" {
		return "(empty body)"
	}
	return strconv.Quote(s)
}

// truncate cuts s to at most n characters (runes, never inside one),
// ending with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	cut, count := 0, 0
	for cut = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:cut] + "…"
}
