package api

import (
	"container/list"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// RateLimitConfig is the API's per-client rate limit: a token bucket per
// client, the client being the bearer token when auth is on and it carries
// one, else the remote IP address.
type RateLimitConfig struct {
	// RequestsPerSecond is each client's sustained rate; 0 turns the limit
	// off. A request over it is answered 429 with Retry-After.
	RequestsPerSecond float64 `koanf:"requests_per_second"`
	// Burst is how many requests a client may make at once after being idle.
	Burst int `koanf:"burst"`
	// MaxClients bounds the clients remembered: past it the least recently
	// seen is forgotten (and starts again with a full bucket), so a flood of
	// distinct addresses cannot grow memory without bound.
	MaxClients int `koanf:"max_clients"`
	// TrustedProxies are the addresses or CIDR prefixes of reverse proxies in
	// front of the API. Only when the connection comes from one is
	// X-Forwarded-For read: the client is its rightmost address that is not a
	// trusted proxy. Otherwise the header is ignored (anyone can send it).
	TrustedProxies []string `koanf:"trusted_proxies"`
}

// DefaultRateLimit is off, with the figures a user turning it on with
// requests_per_second starts from.
func DefaultRateLimit() RateLimitConfig {
	return RateLimitConfig{Burst: 20, MaxClients: 10000}
}

// Validate names the offending key; prefix is the section's key.
func (c RateLimitConfig) Validate(prefix string) error {
	switch {
	case c.RequestsPerSecond < 0 || math.IsNaN(c.RequestsPerSecond) || math.IsInf(c.RequestsPerSecond, 0):
		return fmt.Errorf("%s.requests_per_second: %v must be 0 (off) or positive", prefix, c.RequestsPerSecond)
	case c.RequestsPerSecond > 0 && c.Burst < 1:
		return fmt.Errorf("%s.burst: %d must be at least 1", prefix, c.Burst)
	case c.RequestsPerSecond > 0 && c.MaxClients < 1:
		return fmt.Errorf("%s.max_clients: %d must be at least 1", prefix, c.MaxClients)
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("%s.trusted_proxies: %w", prefix, err)
	}
	return nil
}

// parsePrefixes reads addresses ("10.0.0.1") and prefixes ("10.0.0.0/8").
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q: want an IP address or CIDR prefix", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: want an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientIP is the address a request comes from: the connection's peer, or,
// when the peer is a trusted proxy, the rightmost X-Forwarded-For address
// that is not one (each proxy appends the address it received from; only
// the entries our own proxies added can be believed).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := forwardedAddr(parts[j])
			if !ok {
				return client.String() // a malformed hop: trust no further
			}
			client = a
			if !isTrusted(a, trusted) {
				return a.String()
			}
		}
	}
	return client.String()
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwardedAddr is one X-Forwarded-For entry: an address, with a port or in
// brackets as some proxies write them.
func forwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limiter is a token bucket per client, the least recently seen forgotten
// past max clients and any idle long enough to have refilled (it is then
// the same as a new one).
type limiter struct {
	rate       float64 // tokens per second
	burst      float64
	maxClients int
	now        func() time.Time

	mu      sync.Mutex
	clients map[string]*list.Element
	lru     list.List // of *bucket, most recently seen first
}

type bucket struct {
	key    string
	tokens float64
	seen   time.Time
}

func newLimiter(c RateLimitConfig, now func() time.Time) *limiter {
	return &limiter{rate: c.RequestsPerSecond, burst: float64(c.Burst), maxClients: c.MaxClients, now: now,
		clients: map[string]*list.Element{}}
}

// allow takes a token from key's bucket; when there is none it returns how
// long until there is.
func (l *limiter) allow(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	var b *bucket
	if e, ok := l.clients[key]; ok {
		b = e.Value.(*bucket)
		b.tokens = min(l.burst, b.tokens+now.Sub(b.seen).Seconds()*l.rate)
		l.lru.MoveToFront(e)
	} else {
		for l.lru.Len() >= l.maxClients {
			l.forget(l.lru.Back())
		}
		b = &bucket{key: key, tokens: l.burst}
		l.clients[key] = l.lru.PushFront(b)
	}
	b.seen = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// evictIdle forgets the least recently seen buckets that have refilled.
func (l *limiter) evictIdle(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if now.Sub(e.Value.(*bucket).seen) < full {
			return
		}
		l.forget(e)
	}
}

func (l *limiter) forget(e *list.Element) {
	delete(l.clients, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// size is how many clients are remembered.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// retryAfter is d as Retry-After's whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
