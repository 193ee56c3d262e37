package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AuthConfig is the API's optional bearer-token authentication.
type AuthConfig struct {
	// Tokens are the accepted bearer tokens (each at least 16 characters;
	// PICKET_AUTH__TOKENS=a,b gives two). With neither tokens nor
	// tokens_file, every route is open.
	Tokens []string `koanf:"tokens"`
	// TokensFile is a file of accepted tokens, one per line (blank lines and
	// lines starting with # are ignored). Unreadable or without a token, it
	// stops the start; later it is re-read within 5 s of a change (a change
	// that leaves it unreadable or without a valid token is logged, and the
	// tokens read before stay).
	TokensFile string `koanf:"tokens_file"`
	// Public are the paths served without a token (GET and HEAD only) while
	// auth is on: an exact path, or a prefix ending in /* (/status/* is
	// /status/ and everything under it).
	Public []string `koanf:"public"`
}

// DefaultPublic are the read-only routes open without a token by default:
// the dashboard's page and assets, the OpenAPI document, the status page and
// badges.
var DefaultPublic = []string{"/", "/checks/*", "/assets/*", "/api/v1/openapi.json", "/status", "/status/*", "/api/v1/status/*", "/badge/*"}

// minTokenLen keeps guessable tokens out.
const minTokenLen = 16

// Validate names the offending key; prefix is the section's key ("auth").
func (c AuthConfig) Validate(prefix string) error {
	for i, t := range c.Tokens {
		if err := validToken(t); err != nil {
			return fmt.Errorf("%s.tokens[%d]: %w", prefix, i, err)
		}
	}
	for i, p := range c.Public {
		if err := validPattern(p); err != nil {
			return fmt.Errorf("%s.public[%d]: %q: %w", prefix, i, p, err)
		}
	}
	return nil
}

func validToken(t string) error {
	switch {
	case len(t) < minTokenLen:
		return fmt.Errorf("a token of %d characters is shorter than the minimum %d", len(t), minTokenLen)
	case strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("a token must not contain spaces or control characters")
	}
	return nil
}

func validPattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("want a path starting with /")
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && (i != len(p)-1 || !strings.HasSuffix(p, "/*")) {
		return errors.New("* is only allowed as a final /*")
	}
	return nil
}

// parseTokens reads a tokens file's contents: one token per line, blank
// lines and # comments skipped. The error names the line, never the token.
func parseTokens(b []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := validToken(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no token in the file")
	}
	return out, nil
}

// tokenSet holds the accepted tokens' SHA-256 digests: comparing digests of
// equal length in constant time tells nothing of a token's length or prefix.
type tokenSet struct {
	digests [][sha256.Size]byte
}

// tokensFileCheck is how often auth.tokens_file is looked at for a change.
const tokensFileCheck = 5 * time.Second

// tokenSource is the accepted tokens: auth.tokens and those of
// auth.tokens_file, which is re-read when its contents change (looked at
// every tokensFileCheck, by the request that finds it due).
type tokenSource struct {
	static []string
	file   string
	key    string
	now    func() time.Time
	log    *slog.Logger
	// reloads counts the file's re-reads by result (ok, error).
	reloads *prometheus.CounterVec

	cur atomic.Pointer[tokenSet]

	mu       sync.Mutex
	checked  time.Time
	contents []byte // of the file, as last accepted
}

// loadTokens is cfg's tokens, with its file read; nil when there are none
// (auth off). Errors name the key (prefix "auth" or "query.auth").
func loadTokens(cfg AuthConfig, prefix string, now func() time.Time, log *slog.Logger) (*tokenSource, error) {
	s := &tokenSource{static: cfg.Tokens, file: cfg.TokensFile, key: prefix + ".tokens_file", now: now, log: log,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_query_tokens_file_reloads_total",
			Help: "Re-reads of auth.tokens_file after it changed: result ok, or error (the tokens read before stay in force; logged).",
		}, []string{"result"}),
	}
	tokens := cfg.Tokens
	if cfg.TokensFile != "" {
		b, err := os.ReadFile(cfg.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.key, err)
		}
		fromFile, err := parseTokens(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", s.key, cfg.TokensFile, err)
		}
		tokens = append(append([]string(nil), tokens...), fromFile...)
		s.contents, s.checked = b, now()
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	s.cur.Store(newTokenSet(tokens))
	return s, nil
}

// get is the tokens in force, the file re-read first when it is due.
func (s *tokenSource) get() *tokenSet {
	if s.file != "" {
		s.reloadIfChanged()
	}
	return s.cur.Load()
}

// reloadIfChanged re-reads the file when it is due and takes its tokens
// when its contents changed. A file that became unreadable or holds no
// valid token is logged and counted, and the tokens read before stay: a
// half-written file must not lock everyone out (or let everyone in).
func (s *tokenSource) reloadIfChanged() {
	if !s.mu.TryLock() {
		return // another request is at it; the current tokens hold meanwhile
	}
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.checked) < tokensFileCheck {
		return
	}
	s.checked = now
	b, err := os.ReadFile(s.file)
	if err == nil && bytes.Equal(b, s.contents) {
		return
	}
	var fromFile []string
	if err == nil {
		if fromFile, err = parseTokens(b); err != nil {
			err = fmt.Errorf("%s: %w", s.file, err)
		}
	}
	if err != nil {
		s.reloads.WithLabelValues("error").Inc()
		s.log.Error("tokens file not reloaded; the tokens read before stay in force", "key", s.key, "err", err)
		return
	}
	s.cur.Store(newTokenSet(append(append([]string(nil), s.static...), fromFile...)))
	s.contents = b
	s.reloads.WithLabelValues("ok").Inc()
	s.log.Info("tokens file reloaded", "key", s.key, "tokens", len(fromFile))
}

func newTokenSet(tokens []string) *tokenSet {
	ts := &tokenSet{}
	for _, t := range tokens {
		ts.digests = append(ts.digests, sha256.Sum256([]byte(t)))
	}
	return ts
}

// match returns the identity of the accepted token equal to presented (the
// start of its digest, safe to log and to key a rate limit with), comparing
// every one so the time taken does not say which matched.
func (ts *tokenSet) match(presented string) (string, bool) {
	d := sha256.Sum256([]byte(presented))
	found := -1
	for i := range ts.digests {
		if subtle.ConstantTimeCompare(d[:], ts.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return "token:" + hex.EncodeToString(ts.digests[found][:6]), true
}

// bearer is the token of an Authorization header "Bearer <token>" (the
// scheme case-insensitive, RFC 6750 §2.1), and whether there is one.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// publicPath reports whether path matches one of patterns (see
// AuthConfig.Public).
func publicPath(patterns []string, path string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if path == p {
			return true
		}
	}
	return false
}
