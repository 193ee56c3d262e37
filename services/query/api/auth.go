package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// AuthConfig is the API's optional bearer-token authentication.
type AuthConfig struct {
	// Tokens are the accepted bearer tokens (each at least 16 characters;
	// PICKET_AUTH__TOKENS=a,b gives two). With neither tokens nor
	// tokens_file, every route is open.
	Tokens []string `koanf:"tokens"`
	// TokensFile is a file of accepted tokens, one per line (blank lines and
	// lines starting with # are ignored), read once at the start: a restart
	// takes a changed file. Unreadable or without a token, it stops the start.
	TokensFile string `koanf:"tokens_file"`
	// Public are the paths served without a token (GET and HEAD only) while
	// auth is on: an exact path, or a prefix ending in /* (/status/* is
	// /status/ and everything under it).
	Public []string `koanf:"public"`
}

// DefaultPublic are the read-only routes open without a token by default:
// the dashboard's page and assets, the OpenAPI document, the status page and
// badges.
var DefaultPublic = []string{"/", "/assets/*", "/api/v1/openapi.json", "/status", "/status/*", "/badge/*"}

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

// loadTokens is cfg's tokens, with its file read; errors name the key.
func loadTokens(cfg AuthConfig, prefix string) (*tokenSet, error) {
	tokens := cfg.Tokens
	if cfg.TokensFile != "" {
		b, err := os.ReadFile(cfg.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("%s.tokens_file: %w", prefix, err)
		}
		fromFile, err := parseTokens(b)
		if err != nil {
			return nil, fmt.Errorf("%s.tokens_file %s: %w", prefix, cfg.TokensFile, err)
		}
		tokens = append(append([]string(nil), tokens...), fromFile...)
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	ts := &tokenSet{}
	for _, t := range tokens {
		ts.digests = append(ts.digests, sha256.Sum256([]byte(t)))
	}
	return ts, nil
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
