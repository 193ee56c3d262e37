package safedial

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckRanges(t *testing.T) {
	allowAll := MustCompile("0.0.0.0/0", "::/0", "metadata.google.internal")
	tests := []struct {
		addr     string
		policy   Policy
		host     string
		refused  bool
		contains string
	}{
		{addr: "93.184.215.14"},
		{addr: "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		{addr: "127.0.0.1", refused: true, contains: "loopback"},
		{addr: "127.9.9.9", refused: true, contains: "loopback"},
		{addr: "::1", refused: true, contains: "loopback"},
		{addr: "::ffff:127.0.0.1", refused: true, contains: "loopback"},
		{addr: "10.1.2.3", refused: true, contains: "private"},
		{addr: "172.31.0.1", refused: true, contains: "private"},
		{addr: "192.168.1.1", refused: true, contains: "private"},
		{addr: "100.64.0.1", refused: true, contains: "carrier-grade NAT"},
		{addr: "100.127.255.254", refused: true, contains: "carrier-grade NAT"},
		{addr: "169.254.1.1", refused: true, contains: "link-local"},
		{addr: "fe80::1", refused: true, contains: "link-local"},
		{addr: "fd12:3456::1", refused: true, contains: "unique-local"},
		{addr: "0.0.0.0", refused: true},
		{addr: "::", refused: true},
		{addr: "64:ff9b::a00:1", refused: true, contains: "private"},          // NAT64 of 10.0.0.1
		{addr: "2002:a9fe:a9fe::1", refused: true, contains: "metadata"},      // 6to4 of 169.254.169.254
		{addr: "::ffff:169.254.169.254", refused: true, contains: "metadata"}, // mapped
		// A zone hides an address from prefix and equality checks unless it
		// is dropped first.
		{addr: "64:ff9b::a9fe:a9fe%1", refused: true, contains: "metadata"}, // zoned NAT64 of 169.254.169.254
		{addr: "fd00:ec2::254%eth0", policy: allowAll, refused: true, contains: "metadata"},
		{addr: "fe80::1%eth0", refused: true, contains: "link-local"},
		// Metadata services stay refused whatever is allowed.
		{addr: "169.254.169.254", refused: true, contains: "metadata"},
		{addr: "169.254.169.254", policy: allowAll, refused: true, contains: "metadata"},
		{addr: "169.254.169.254", policy: allowAll, host: "metadata.google.internal", refused: true, contains: "metadata"},
		{addr: "fd00:ec2::254", policy: allowAll, refused: true, contains: "metadata"},
		{addr: "100.100.100.200", policy: allowAll, refused: true, contains: "metadata"},
		{addr: "169.254.170.2", policy: allowAll, refused: true, contains: "metadata"},
		// Allowlisted.
		{addr: "127.0.0.1", policy: MustCompile("127.0.0.1")},
		{addr: "10.1.2.3", policy: MustCompile("10.0.0.0/8")},
		{addr: "10.1.2.3", policy: MustCompile("10.0.0.0/24"), refused: true},
		{addr: "172.18.0.5", policy: MustCompile("demo"), host: "demo"},
		{addr: "172.18.0.5", policy: MustCompile("demo"), host: "other", refused: true},
		{addr: "172.18.0.5", policy: MustCompile("*.svc.local"), host: "hook.svc.local"},
		{addr: "172.18.0.5", policy: MustCompile("*.svc.local"), host: "svc.local.evil", refused: true},
	}
	for _, tc := range tests {
		err := tc.policy.Check(tc.host, netip.MustParseAddr(tc.addr))
		if (err != nil) != tc.refused {
			t.Errorf("%s (host %q): err %v, want refused=%v", tc.addr, tc.host, err, tc.refused)
			continue
		}
		if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.contains)) {
			t.Errorf("%s: error %q, want ErrRefused mentioning %q", tc.addr, err, tc.contains)
		}
	}
}

func TestCompileRefusesBadEntries(t *testing.T) {
	for entry, want := range map[string]string{
		"10.0.0.0/33": `[0]: "10.0.0.0/33" is not a CIDR`,
		"":            "[0]: empty entry",
		"bad host!":   `[0]: "bad host!" is neither a CIDR, an address nor a host name`,
	} {
		if _, err := Compile(entry); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %s", entry, err, want)
		}
	}
	if err := (Config{Allow: []string{"ok", "10.0.0.0/99"}}).Validate("safety.allow"); err == nil ||
		!strings.HasPrefix(err.Error(), `safety.allow[1]: "10.0.0.0/99" is not a CIDR`) {
		t.Errorf("validate: %v", err)
	}
}

// A name resolving to private and metadata addresses is refused without a
// packet leaving: the connect step is never reached for any of them.
func TestStubResolverPrivateAddressesNeverConnected(t *testing.T) {
	var reached atomic.Int32
	d := &Dialer{
		LookupNetIP: func(_ context.Context, _, host string) ([]netip.Addr, error) {
			return []netip.Addr{
				netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("169.254.169.254"),
				netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.64.3.4"),
				netip.MustParseAddr("fc00::1"), netip.MustParseAddr("192.168.0.1"),
				netip.MustParseAddr("::ffff:10.0.0.1"),
			}, nil
		},
		BeforeConnect: func(network string, ap netip.AddrPort) {
			reached.Add(1)
			if !ap.Addr().IsLoopback() {
				t.Errorf("connect reached for %s %s", network, ap)
			}
		},
	}
	cl := Client(d, 2*time.Second)
	_, err := cl.Get("http://hooks.rebind.example:8080/x")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want a refusal", err)
	}
	for _, want := range []string{"10.0.0.7", "169.254.169.254", "fd00:ec2::254", "100.64.3.4", `"hooks.rebind.example"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if reached.Load() != 0 {
		t.Fatalf("connect reached %d times", reached.Load())
	}
	// Even allowlisting every private range leaves metadata refused.
	d.Policy = MustCompile("0.0.0.0/0", "::/0", "hooks.rebind.example")
	d.LookupNetIP = func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}, nil
	}
	if _, err := cl.Get("http://hooks.rebind.example/latest/meta-data/"); !errors.Is(err, ErrRefused) {
		t.Fatalf("metadata allowed: %v", err)
	}
	if reached.Load() != 0 {
		t.Fatalf("connect reached %d times", reached.Load())
	}
}

func TestLoopbackRefusedUnlessAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	d := &Dialer{LookupNetIP: func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}
	cl := Client(d, 2*time.Second)
	for _, target := range []string{srv.URL, "http://receiver.test:" + port} {
		if _, err := cl.Get(target); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want refused as loopback", target, err)
		}
	}
	for _, allow := range []string{"127.0.0.1", "127.0.0.0/8", "receiver.test"} {
		d.Policy = MustCompile(allow)
		resp, err := cl.Get("http://receiver.test:" + port)
		if err != nil {
			t.Fatalf("allow %s: %v", allow, err)
		}
		resp.Body.Close()
	}
}

// A redirect is returned, not followed: the second server is never asked.
func TestRedirectNotFollowed(t *testing.T) {
	var hit atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	cl := Client(&Dialer{Policy: MustCompile("127.0.0.1")}, 2*time.Second)
	resp, err := cl.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hit.Load() != 0 {
		t.Fatalf("status %d, redirect target hit %d times", resp.StatusCode, hit.Load())
	}
}
