package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AccessConfig says who may read the API: tokens, other origins' pages, and
// how fast each client may ask.
type AccessConfig struct {
	Auth      AuthConfig
	CORS      CORSConfig
	RateLimit RateLimitConfig
}

// DefaultAccess is open: no token, no CORS, no rate limit.
func DefaultAccess() AccessConfig {
	return AccessConfig{Auth: AuthConfig{Public: DefaultPublic}, CORS: DefaultCORS(), RateLimit: DefaultRateLimit()}
}

// Validate names the offending key under the sections auth, cors and
// rate_limit, each prefixed with prefix ("" or "query.").
func (c AccessConfig) Validate(prefix string) error {
	if err := c.Auth.Validate(prefix + "auth"); err != nil {
		return err
	}
	if err := c.CORS.Validate(prefix + "cors"); err != nil {
		return err
	}
	return c.RateLimit.Validate(prefix + "rate_limit")
}

// ErrAccess is what every NewGuard error is (errors.Is): the access
// configuration is at fault, not the listener or the store.
var ErrAccess = errors.New("query access configuration")

type accessError struct{ err error }

func (e accessError) Error() string        { return e.err.Error() }
func (e accessError) Unwrap() error        { return e.err }
func (e accessError) Is(target error) bool { return target == ErrAccess }

// Guard is the access control in front of the API's router: CORS (a
// preflight is answered here), the rate limit, then the token.
type Guard struct {
	log     *slog.Logger
	tokens  *tokenSource // nil: auth off
	public  []string
	cors    *cors    // nil: off
	limiter *limiter // nil: off
	trusted []netip.Prefix

	rejected *prometheus.CounterVec
}

// NewGuard builds cfg's guard, reading auth.tokens_file; an error names the
// key (under prefix, "" or "query."). now is the rate limit's clock (nil:
// time.Now).
func NewGuard(cfg AccessConfig, prefix string, log *slog.Logger, now func() time.Time) (*Guard, error) {
	if err := cfg.Validate(prefix); err != nil {
		return nil, accessError{err}
	}
	if now == nil {
		now = time.Now
	}
	tokens, err := loadTokens(cfg.Auth, prefix+"auth", now, log)
	if err != nil {
		return nil, accessError{err}
	}
	trusted, _ := parsePrefixes(cfg.RateLimit.TrustedProxies) // validated above
	g := &Guard{log: log, tokens: tokens, public: cfg.Auth.Public, cors: newCORS(cfg.CORS), trusted: trusted,
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_query_rejected_requests_total",
			Help: "Requests refused before reaching a route: reason rate_limit (answered 429) or unauthorized (401).",
		}, []string{"reason"}),
	}
	if cfg.RateLimit.RequestsPerSecond > 0 {
		g.limiter = newLimiter(cfg.RateLimit, now)
	}
	for _, r := range []string{"rate_limit", "unauthorized"} {
		g.rejected.WithLabelValues(r)
	}
	return g, nil
}

// Register adds the guard's metrics to reg.
func (g *Guard) Register(reg prometheus.Registerer) error {
	if err := reg.Register(g.rejected); err != nil {
		return fmt.Errorf("query access metrics: %w", err)
	}
	if g.tokens != nil && g.tokens.file != "" {
		if err := reg.Register(g.tokens.reloads); err != nil {
			return fmt.Errorf("query access metrics: %w", err)
		}
	}
	return nil
}

// Wrap puts the guard in front of next.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cors != nil && g.cors.handle(w, r) {
			return
		}
		client, authed := "", false
		if g.tokens != nil {
			if tok, ok := bearer(r.Header.Get("Authorization")); ok {
				client, authed = g.tokens.get().match(tok)
			}
		}
		if g.limiter != nil {
			if !authed {
				client = "ip:" + clientIP(r, g.trusted)
			}
			if wait, ok := g.limiter.allow(client); !ok {
				g.rejected.WithLabelValues("rate_limit").Inc()
				secs := retryAfter(wait)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				writeProblem(w, Problem{Status: http.StatusTooManyRequests,
					Detail: fmt.Sprintf("more than the rate limit allows for this client; retry in %d s", secs)})
				return
			}
		}
		if g.tokens != nil && !authed && !g.isPublic(r) {
			g.rejected.WithLabelValues("unauthorized").Inc()
			detail := "this route needs a bearer token: send Authorization: Bearer <token>"
			challenge := `Bearer realm="picket"`
			if r.Header.Get("Authorization") != "" {
				detail = "the bearer token is not accepted"
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeProblem(w, Problem{Status: http.StatusUnauthorized, Detail: detail})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isPublic reports whether r reads a public route. It matches the path the
// router routes on (the escaped one when it differs), so no spelling of a
// private route passes as a public one.
func (g *Guard) isPublic(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	return publicPath(g.public, path)
}
