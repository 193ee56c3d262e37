// Package safedial is the notifier's outbound network policy: an HTTP client
// that connects only to public addresses unless an address or host is
// explicitly allowed, and never to a cloud metadata service.
//
// The check runs on the address actually being connected, inside the dialer
// (net.Dialer.ControlContext), after name resolution: a name that resolves to
// a public address when the URL is validated and to 10.0.0.1 (or
// 169.254.169.254) when the request is made — DNS rebinding — is still
// refused. The client follows no redirects (a redirect would carry a signed
// request to a place nobody configured) and uses no proxy from the
// environment (a proxy would make the dialed address the proxy's).
//
// It must never let a refused address be connected, whatever the allowlist
// says about metadata addresses.
package safedial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Config is the allowlist, as configured (`safety.allow`): CIDRs ("10.0.0.0/8"),
// single addresses ("127.0.0.1", "::1") or host names ("demo",
// "receiver.internal"; a leading "*." matches any subdomain). Everything
// public is allowed without being listed.
type Config struct {
	Allow []string `koanf:"allow"`
}

// Validate names the offending entry under key (e.g. "safety.allow").
func (c Config) Validate(key string) error {
	_, err := Compile(c.Allow...)
	if err != nil {
		return fmt.Errorf("%s%w", key, err)
	}
	return nil
}

// Policy decides which addresses may be connected. The zero Policy allows
// only public addresses.
type Policy struct {
	prefixes []netip.Prefix
	hosts    []string // lower-case; "*.x" for suffixes
}

// Compile parses allowlist entries. Its error starts with the entry's index
// ("[2]: …") so a caller can prefix the key.
func Compile(entries ...string) (Policy, error) {
	var p Policy
	for i, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			return Policy{}, fmt.Errorf("[%d]: empty entry", i)
		case strings.Contains(e, "/"):
			pfx, err := netip.ParsePrefix(e)
			if err != nil {
				return Policy{}, fmt.Errorf("[%d]: %q is not a CIDR: %w", i, e, err)
			}
			p.prefixes = append(p.prefixes, pfx.Masked())
		default:
			if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				a = a.Unmap()
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			h := strings.ToLower(strings.TrimSuffix(e, "."))
			if !validHost(strings.TrimPrefix(h, "*.")) {
				return Policy{}, fmt.Errorf("[%d]: %q is neither a CIDR, an address nor a host name", i, e)
			}
			p.hosts = append(p.hosts, h)
		}
	}
	return p, nil
}

// MustCompile is Compile for literals in tests and defaults.
func MustCompile(entries ...string) Policy {
	p, err := Compile(entries...)
	if err != nil {
		panic(err)
	}
	return p
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Merge returns a policy allowing what either allows.
func (p Policy) Merge(q Policy) Policy {
	return Policy{
		prefixes: append(append([]netip.Prefix(nil), p.prefixes...), q.prefixes...),
		hosts:    append(append([]string(nil), p.hosts...), q.hosts...),
	}
}

// hostAllowed reports whether host is on the allowlist by name.
func (p Policy) hostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.hosts {
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// RefusedError says why an address was not connected.
type RefusedError struct {
	Host   string // as in the URL
	Addr   netip.Addr
	Reason string // "a private address", "a cloud metadata address", …
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("refusing to connect to %s (%s)", e.Addr, e.Reason)
	if e.Host != "" && e.Host != e.Addr.String() {
		s += fmt.Sprintf(" for host %q", e.Host)
	}
	if e.Reason != reasonMetadata {
		s += "; allow it with safety.allow if it is meant"
	}
	return s
}

// ErrRefused is what errors.Is finds in every refusal.
var ErrRefused = errors.New("address refused by the notifier's network policy")

// Is makes errors.Is(err, ErrRefused) true for a RefusedError.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

const reasonMetadata = "a cloud metadata address, never allowed"

// Cloud instance metadata services. They hand out credentials, so they are
// refused even when an allowlist entry covers them.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata and credentials
	netip.MustParseAddr("169.254.170.23"),  // AWS EKS pod identity
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS pod identity over IPv6
	netip.MustParseAddr("fd20:ce::254"),    // GCP metadata over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// Ranges refused unless allowed. Public unicast is everything else.
var blocked = []struct {
	pfx    netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this network\" address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique-local address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
}

// Check returns nil if addr may be connected for host (the name in the URL,
// or "" when unknown), or a *RefusedError.
func (p Policy) Check(host string, addr netip.Addr) error {
	// The zone goes first: a zoned address is contained in no prefix and
	// equal to no metadata address, so [64:ff9b::a9fe:a9fe%1] would pass
	// every check below as "public" and reach 169.254.169.254 through a
	// NAT64 gateway.
	addr = addr.Unmap().WithZone("")
	// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address a
	// gateway will connect to: judge that one.
	if inner, ok := embeddedV4(addr); ok {
		if err := p.Check(host, inner); err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				re.Addr = addr
			}
			return err
		}
	}
	for _, m := range metadata {
		if addr == m {
			return &RefusedError{Host: host, Addr: addr, Reason: reasonMetadata}
		}
	}
	if host != "" && p.hostAllowed(host) {
		return nil
	}
	for _, pfx := range p.prefixes {
		if pfx.Contains(addr) {
			return nil
		}
	}
	for _, b := range blocked {
		if b.pfx.Contains(addr) {
			return &RefusedError{Host: host, Addr: addr, Reason: b.reason}
		}
	}
	return nil
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixto4 = netip.MustParsePrefix("2002::/16")
)

func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixto4.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// Dialer connects under a Policy.
type Dialer struct {
	Policy Policy
	// Timeout bounds one connection attempt; 0 means 10s.
	Timeout time.Duration
	// LookupNetIP resolves names; nil means net.DefaultResolver. Tests pass
	// a stub.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// BeforeConnect, when set, runs after the policy allowed an address and
	// just before the socket connects to it. Tests use it to prove that no
	// refused address gets this far.
	BeforeConnect func(network string, addr netip.AddrPort)
}

type hostKey struct{}

// DialContext implements the signature http.Transport wants. It resolves
// addr's host itself and connects to each address in turn; the policy is
// enforced in the dialer's control hook on the address being connected.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		lookup := d.LookupNetIP
		if lookup == nil {
			lookup = net.DefaultResolver.LookupNetIP
		}
		ips, err = lookup(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("lookup %s: no addresses", host)
		}
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	nd := &net.Dialer{Timeout: timeout, ControlContext: d.control}
	ctx = context.WithValue(ctx, hostKey{}, host)
	var errs []error
	for _, ip := range ips {
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (d *Dialer) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("safedial: unexpected address %q: %w", address, err)
	}
	host, _ := ctx.Value(hostKey{}).(string)
	if err := d.Policy.Check(host, ap.Addr()); err != nil {
		return err
	}
	if d.BeforeConnect != nil {
		d.BeforeConnect(network, ap)
	}
	return nil
}

// Client is an HTTP client dialing through d, with timeout bounding each
// whole request, following no redirect (a 3xx response is returned as is)
// and using no proxy.
func Client(d *Dialer, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
