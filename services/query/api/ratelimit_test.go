package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func from(r *http.Request, remote string) *http.Request { r.RemoteAddr = remote; return r }

// Past its burst a client is answered 429 with Retry-After in whole
// seconds; its bucket refills at the configured rate; other clients (another
// address, another token from the same address) have their own.
func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: now}
	cfg := DefaultAccess()
	cfg.RateLimit.RequestsPerSecond, cfg.RateLimit.Burst = 0.25, 2 // one every 4 s
	h, g := guarded(t, cfg, clock)
	alerts := func(remote string, header ...string) answer {
		return serve(t, h, from(request("GET", "/api/v1/alerts", header...), remote))
	}
	for i := range 2 {
		if a := alerts("192.0.2.1:1000"); a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	a := alerts("192.0.2.1:1001") // another connection, the same client
	if a.status != 429 || a.header.Get("Retry-After") != "4" || a.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("past the burst: %d %v %s", a.status, a.header, a.body)
	}
	if b := alerts("192.0.2.2:1000"); b.status != 200 {
		t.Fatalf("another address: %d", b.status)
	}
	clock.add(3 * time.Second)
	if a := alerts("192.0.2.1:1000"); a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Fatalf("3 s later (0.75 of a token): %d %v", a.status, a.header.Get("Retry-After"))
	}
	clock.add(1 * time.Second)
	if a := alerts("192.0.2.1:1000"); a.status != 200 {
		t.Fatalf("refilled: %d %s", a.status, a.body)
	}
	if a := alerts("192.0.2.1:1000"); a.status != 429 {
		t.Fatalf("one token only: %d", a.status)
	}
	if n := testutil.ToFloat64(g.rejected.WithLabelValues("rate_limit")); n != 3 {
		t.Errorf("rate_limit rejections counted %v, want 3", n)
	}

	// With auth on, each token is a client of its own, wherever it comes
	// from; requests without one share their address's bucket.
	cfg.Auth.Tokens = []string{tokenA, tokenB}
	h, _ = guarded(t, cfg, clock)
	for i, c := range []struct {
		remote, token string
		want          int
	}{
		{"192.0.2.1:1", tokenA, 200}, {"192.0.2.2:1", tokenA, 200}, {"192.0.2.3:1", tokenA, 429},
		{"192.0.2.1:1", tokenB, 200}, {"192.0.2.1:1", "", 401}, {"192.0.2.1:1", "", 401}, {"192.0.2.1:1", "", 429},
		{"192.0.2.1:1", "wrong-token-but-long", 429},
	} {
		var hdr []string
		if c.token != "" {
			hdr = []string{"Authorization", "Bearer " + c.token}
		}
		if a := serve(t, h, from(request("GET", "/api/v1/alerts/open", hdr...), c.remote)); a.status != c.want {
			t.Fatalf("request %d (%s): %d, want %d", i, c.remote, a.status, c.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 10 * time.Second: 10} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%s) = %d, want %d", d, got, want)
		}
	}
}

// X-Forwarded-For is believed only from a trusted proxy, and then only up
// to the first hop our proxies did not add.
func TestClientIP(t *testing.T) {
	trusted, err := parsePrefixes([]string{"10.0.0.0/8", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5", nil, "192.0.2.1"},
		{"192.0.2.1:5", []string{"198.51.100.7"}, "192.0.2.1"}, // not from a proxy: the header is anyone's
		{"10.1.2.3:5", nil, "10.1.2.3"},
		{"10.1.2.3:5", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.1.2.3:5", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"}, // the client's own claim is skipped
		{"10.1.2.3:5", []string{"6.6.6.6", "198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"10.1.2.3:5", []string{"10.4.4.4, 10.9.9.9"}, "10.4.4.4"},
		{"10.1.2.3:5", []string{"nonsense, 198.51.100.7"}, "198.51.100.7"},
		{"10.1.2.3:5", []string{"198.51.100.7, nonsense"}, "10.1.2.3"},
		{"10.1.2.3:5", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"[2001:db8::1]:5", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"[::ffff:10.0.0.1]:5", []string{"198.51.100.7"}, "198.51.100.7"},
		{"pipe", nil, "pipe"},
	} {
		r := request("GET", "/")
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, trusted); got != c.want {
			t.Errorf("%s %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// Through a trusted proxy each forwarded client has its own bucket; from
// elsewhere a forged X-Forwarded-For does not buy a fresh one.
func TestRateLimitTrustedProxies(t *testing.T) {
	clock := &fakeClock{t: now}
	cfg := DefaultAccess()
	cfg.RateLimit.RequestsPerSecond, cfg.RateLimit.Burst, cfg.RateLimit.TrustedProxies = 1, 1, []string{"10.0.0.0/8"}
	h, _ := guarded(t, cfg, clock)
	status := func(remote, xff string) int {
		return serve(t, h, from(request("GET", "/api/v1/alerts/open", "X-Forwarded-For", xff), remote)).status
	}
	if s1, s2 := status("10.0.0.1:1", "198.51.100.1"), status("10.0.0.1:1", "198.51.100.2"); s1 != 200 || s2 != 200 {
		t.Fatalf("two clients behind the proxy: %d %d", s1, s2)
	}
	if s := status("10.0.0.1:1", "198.51.100.1"); s != 429 {
		t.Fatalf("the first again: %d", s)
	}
	if s1, s2 := status("192.0.2.9:1", "198.51.100.3"), status("192.0.2.9:1", "198.51.100.4"); s1 != 200 || s2 != 429 {
		t.Fatalf("forged header from an untrusted peer: %d %d", s1, s2)
	}
}

// A flood of distinct addresses keeps at most max_clients buckets, and
// buckets idle long enough to have refilled are dropped.
func TestRateLimitMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{t: now}
	l := newLimiter(RateLimitConfig{RequestsPerSecond: 1, Burst: 5, MaxClients: 100}, clock.now)
	for i := range 10000 {
		if _, ok := l.allow(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()); !ok {
			t.Fatalf("a new client %d was refused", i)
		}
		if n := l.size(); n > 100 {
			t.Fatalf("%d clients remembered after %d", n, i+1)
		}
	}
	if n := l.size(); n != 100 {
		t.Fatalf("%d clients remembered, want 100", n)
	}
	// A busy client among the flood keeps its (empty) bucket: it is recent.
	for range 5 {
		l.allow("busy")
	}
	if _, ok := l.allow("busy"); ok {
		t.Fatal("busy client not limited")
	}
	clock.add(5 * time.Second) // every bucket is full again
	l.allow("late")
	if n := l.size(); n != 1 {
		t.Fatalf("%d clients remembered after they all went idle, want 1", n)
	}
}

func BenchmarkRateLimitDistinctClients(b *testing.B) {
	l := newLimiter(RateLimitConfig{RequestsPerSecond: 1, Burst: 5, MaxClients: 10000}, time.Now)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:198.18.%d.%d", i>>8, i&255)
	}
	b.ResetTimer()
	for i := range b.N {
		l.allow(keys[i&(len(keys)-1)])
	}
}
