// Package check defines what a check is and loads check files.
//
// A check file is YAML with a list of checks; an invalid file is refused as a
// whole with an error naming the file, the check and the field, so a typo can
// never silently stop a check from running.
package check

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/picket-dev/picket/services/prober/assert"
)

// Check is one scheduled probe.
type Check struct {
	ID       string        `yaml:"id"`
	Name     string        `yaml:"name"`
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one run; it must be below Interval so runs never overlap.
	Timeout time.Duration `yaml:"timeout"`
	// Locations that run the check; empty means every location.
	Locations []string `yaml:"locations"`
	// Labels travel with every result (team: payments, env: prod): alert
	// silences and routing select checks by them.
	Labels map[string]string `yaml:"labels"`
	// Retries confirms a failure by running again up to this many times,
	// RetryDelay apart, before reporting; the result says how many attempts ran.
	Retries    int           `yaml:"retries"`
	RetryDelay time.Duration `yaml:"retry_delay"`
	// Exactly one of the check types.
	HTTP *HTTP     `yaml:"http"`
	TCP  *TCP      `yaml:"tcp"`
	DNS  *DNS      `yaml:"dns"`
	TLS  *TLSCheck `yaml:"tls"`
	// Journey is a multi-step HTTP check.
	Journey *Journey `yaml:"journey"`
	// Assertions are judged on every run that got an answer.
	Assertions []assert.Assertion `yaml:"assertions"`

	// compiled is set by a successful Compile, compileErr by a failed one.
	compiled   bool
	compileErr error
}

// RunsAt reports whether the check runs at location.
func (c Check) RunsAt(location string) bool {
	return len(c.Locations) == 0 || slices.Contains(c.Locations, location)
}

// HasStatusAssertion reports whether the check's assertions judge the status
// (expected_status then does not apply).
func (c Check) HasStatusAssertion() bool {
	for i := range c.Assertions {
		if c.Assertions[i].IsStatus() {
			return true
		}
	}
	return false
}

// Type names the probe kind: http, tcp, dns or tls ("" when none is set).
func (c Check) Type() string {
	types := c.types()
	if len(types) == 1 {
		return types[0]
	}
	return ""
}

func (c Check) types() []string {
	var t []string
	if c.HTTP != nil {
		t = append(t, "http")
	}
	if c.TCP != nil {
		t = append(t, "tcp")
	}
	if c.DNS != nil {
		t = append(t, "dns")
	}
	if c.TLS != nil {
		t = append(t, "tls")
	}
	if c.Journey != nil {
		t = append(t, "journey")
	}
	return t
}

// TLSOptions verify a server's certificate.
type TLSOptions struct {
	// CAFile is a PEM bundle of the roots to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify measures without verifying the chain.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name verified (default: the host dialled).
	ServerName string `yaml:"server_name"`

	roots *x509.CertPool
}

// Config returns the tls.Config for host.
func (o *TLSOptions) Config(host string) *tls.Config {
	name := host
	if o != nil && o.ServerName != "" {
		name = o.ServerName
	}
	cfg := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if o != nil {
		cfg.RootCAs = o.roots
		cfg.InsecureSkipVerify = o.InsecureSkipVerify
	}
	return cfg
}

// load reads the CA file (part of Compile: the path is the prober's).
func (o *TLSOptions) load(field string) error {
	if o == nil || o.CAFile == "" {
		return nil
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return fmt.Errorf("%s.ca_file: %w", field, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s.ca_file: %s holds no PEM certificate", field, o.CAFile)
	}
	o.roots = roots
	return nil
}

// TCP connects, optionally sends a payload and expects a reply.
type TCP struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Send is written after connecting.
	Send string `yaml:"send"`
	// Expect, when set, must appear in what the server sends back.
	Expect string `yaml:"expect"`
}

// DNS queries a name and checks the answer.
type DNS struct {
	Name string `yaml:"name"`
	// Type is the record type: A, AAAA, CNAME, MX, NS, TXT, SOA, SRV, PTR, CAA.
	Type string `yaml:"type"`
	// Server is host:port; default the first nameserver of /etc/resolv.conf.
	Server string `yaml:"server"`
	// Protocol is udp (default) or tcp.
	Protocol string `yaml:"protocol"`
	// Rcode expected, default NOERROR.
	Rcode string `yaml:"rcode"`
	// Answers must each appear among the answer values (e.g. an A record's address).
	Answers []string `yaml:"answers"`
}

// TLSCheck connects with TLS and checks the certificate chain.
type TLSCheck struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// MinDaysLeft fails the check when the chain's earliest expiry is nearer.
	MinDaysLeft int        `yaml:"min_days_left"`
	Options     TLSOptions `yaml:",inline"`
}

// HTTP is an HTTP(S) request and what counts as success.
type HTTP struct {
	Method  string            `yaml:"method"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// ExpectedStatus lists the statuses that count as success. A synthetic
	// client sends well-formed, authorised requests, so the default is 200 only.
	ExpectedStatus []int `yaml:"expected_status"`
	// TLS verifies https servers.
	TLS *TLSOptions `yaml:"tls"`

	// Query parameters added to the URL.
	Query map[string]string `yaml:"query"`
	// BodyFile is read at load time as the body (instead of Body).
	BodyFile string `yaml:"body_file"`
	// BasicAuth and BearerTokenEnv take secrets from the environment, never
	// from the file.
	BasicAuth      *BasicAuth `yaml:"basic_auth"`
	BearerTokenEnv string     `yaml:"bearer_token_env"`
	// MaxRedirects followed (default 10); 0 reports the redirect itself.
	MaxRedirects *int `yaml:"max_redirects"`
	// HTTPVersion is "" (negotiate), "1.1" or "2" (a run on another version fails).
	HTTPVersion string `yaml:"http_version"`
	// IPVersion is "" (either), "4" or "6".
	IPVersion string `yaml:"ip_version"`
	// MaxBodyBytes read; a longer body fails the run (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Proxy is an http(s) proxy URL; default from HTTP(S)_PROXY.
	Proxy string `yaml:"proxy"`
	// KeepAlive reuses connections between runs (default: a fresh connection
	// per run, so DNS, connect and TLS are measured every time).
	KeepAlive bool `yaml:"keep_alive"`

	compiled httpCompiled
}

// BasicAuth names the user and the environment variable holding the password.
type BasicAuth struct {
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
}

// File is a check file.
type File struct {
	Checks []Check `yaml:"checks"`
}

// Defaults applied to a check that leaves them out.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 10 * time.Second
)

var labelPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Load reads a check file and prepares its checks to run on this machine:
// it is Parse, for a prober that runs the file's checks itself.
func Load(path string) ([]Check, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checks file: %w", err)
	}
	checks, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("checks file %s: %w", path, err)
	}
	return checks, nil
}

// Parse decodes and validates a check file's contents, applying defaults,
// then compiles every check (reading its ca_file, body_file and secrets).
func Parse(b []byte) ([]Check, error) {
	checks, err := Decode(b)
	if err != nil {
		return nil, err
	}
	for i := range checks {
		if err := checks[i].Compile(); err != nil {
			return nil, fmt.Errorf("%s: %w", checkName(i, checks[i].ID), err)
		}
	}
	return checks, nil
}

// Decode decodes and validates a check file's contents, applying defaults.
// It is pure: no file or environment variable is read, so it validates a
// file on a machine that has neither the probers' secrets nor their CA files.
// Errors name the check (checks[i], with its id when it has one) and the field.
func Decode(b []byte) ([]Check, error) {
	var f File
	if err := decodeStrict(b, &f); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for i := range f.Checks {
		c := &f.Checks[i]
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", checkName(i, c.ID), err)
		}
		if j, dup := seen[c.ID]; dup {
			return nil, fmt.Errorf("checks[%d]: id %q is also used by checks[%d]", i, c.ID, j)
		}
		seen[c.ID] = i
	}
	return f.Checks, nil
}

// checkName is how an error names the i-th check of a file.
func checkName(i int, id string) string {
	if id != "" {
		return fmt.Sprintf("checks[%d] (%s)", i, id)
	}
	return fmt.Sprintf("checks[%d]", i)
}

// ApplyDefaults fills the fields a check file may leave out.
func (c *Check) ApplyDefaults() {
	if c.Name == "" {
		c.Name = c.ID
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultTimeout, c.Interval*4/5)
	}
	if c.Retries > 0 && c.RetryDelay == 0 {
		c.RetryDelay = time.Second
	}
	if h := c.HTTP; h != nil {
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		h.Method = strings.ToUpper(h.Method)
		if len(h.ExpectedStatus) == 0 && !c.HasStatusAssertion() {
			h.ExpectedStatus = []int{http.StatusOK}
		}
	}
	if j := c.Journey; j != nil {
		j.applyDefaults(func(as []assert.Assertion) bool { return (&HTTP{}).hasStatus(as) })
	}
	if d := c.DNS; d != nil {
		d.Type = strings.ToUpper(d.Type)
		if d.Type == "" {
			d.Type = "A"
		}
		if d.Protocol == "" {
			d.Protocol = "udp"
		}
		d.Rcode = strings.ToUpper(d.Rcode)
		if d.Rcode == "" {
			d.Rcode = "NOERROR"
		}
	}
}

// DNSTypes are the record types a DNS check may ask for.
var DNSTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "PTR", "CAA"}

// DNSRcodes are the response codes a DNS check may expect.
var DNSRcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}

var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions,
}

// Validate reports the first invalid field, by its YAML name. It is pure: it
// reads no file and no environment variable and changes nothing, so a check
// validates anywhere; Compile does the reads where the check runs.
func (c Check) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("id: required")
	case !idPattern.MatchString(c.ID):
		return fmt.Errorf("id: %q must be lower-case letters, digits, '.', '_' or '-' (at most 128)", c.ID)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("interval: %s is below the minimum of 10ms", c.Interval)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	case c.Timeout >= c.Interval:
		return fmt.Errorf("timeout: %s must be below interval %s so runs never overlap", c.Timeout, c.Interval)
	case c.Retries < 0 || c.Retries > 10:
		return fmt.Errorf("retries: %d must be from 0 to 10", c.Retries)
	case c.RetryDelay < 0:
		return fmt.Errorf("retry_delay: %s must not be negative", c.RetryDelay)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		if !labelPattern.MatchString(k) {
			return fmt.Errorf("labels.%s: label names are lower-case letters, digits and '_', starting with a letter", k)
		}
	}
	if worst := time.Duration(c.Retries+1)*c.Timeout + time.Duration(c.Retries)*c.RetryDelay; worst >= c.Interval {
		return fmt.Errorf("retries: %d retries of timeout %s, %s apart, can take %s, not below interval %s",
			c.Retries, c.Timeout, c.RetryDelay, worst, c.Interval)
	}
	switch types := c.types(); len(types) {
	case 0:
		return errors.New("a check type is required: one of http, tcp, dns, tls, journey")
	case 1:
	default:
		return fmt.Errorf("%s: a check has exactly one type", strings.Join(types, ", "))
	}
	if err := c.validateAssertions(); err != nil {
		return err
	}
	switch {
	case c.TCP != nil:
		return validAddress("tcp.address", c.TCP.Address)
	case c.DNS != nil:
		return c.DNS.validate()
	case c.TLS != nil:
		if c.TLS.MinDaysLeft < 0 {
			return fmt.Errorf("tls.min_days_left: %d must not be negative", c.TLS.MinDaysLeft)
		}
		return validAddress("tls.address", c.TLS.Address)
	case c.Journey != nil:
		return c.Journey.validate()
	}
	return c.HTTP.validate("http")
}

// Compile validates c and prepares it to run on this machine: it reads the
// ca_file and body_file it names and the secrets of password_env and
// bearer_token_env, and builds its transport. It runs where the check runs
// (the prober), never where the check was written: a definition published by
// `picket apply` carries these as references. The error names the field.
func (c *Check) Compile() error {
	c.compiled, c.compileErr = false, c.compile()
	c.compiled = c.compileErr == nil
	return c.compileErr
}

// Runnable reports why c cannot run here: it was not compiled, or its
// compile step failed (a secret or CA file missing on this machine).
func (c Check) Runnable() error {
	switch {
	case c.compileErr != nil:
		return c.compileErr
	case !c.compiled:
		return errors.New("not compiled")
	}
	return nil
}

func (c *Check) compile() error {
	if err := c.Validate(); err != nil {
		return err
	}
	for i := range c.Assertions {
		if err := c.Assertions[i].Compile(); err != nil {
			return fmt.Errorf("assertions[%d]: %w", i, err)
		}
	}
	switch {
	case c.TLS != nil:
		return c.TLS.Options.load("tls")
	case c.Journey != nil:
		return c.Journey.compile()
	case c.HTTP != nil:
		return c.HTTP.compile("http")
	}
	return nil
}

func validAddress(field, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	switch {
	case addr == "":
		return fmt.Errorf("%s: required", field)
	case err != nil:
		return fmt.Errorf("%s: %q: want host:port", field, addr)
	case host == "" || port == "":
		return fmt.Errorf("%s: %q: want host:port", field, addr)
	}
	return nil
}

func (d *DNS) validate() error {
	switch {
	case d.Name == "":
		return errors.New("dns.name: required")
	case !slices.Contains(DNSTypes, d.Type):
		return fmt.Errorf("dns.type: %q is not one of %s", d.Type, strings.Join(DNSTypes, ", "))
	case !slices.Contains(DNSRcodes, d.Rcode):
		return fmt.Errorf("dns.rcode: %q is not one of %s", d.Rcode, strings.Join(DNSRcodes, ", "))
	case d.Protocol != "udp" && d.Protocol != "tcp":
		return fmt.Errorf("dns.protocol: %q is not udp or tcp", d.Protocol)
	}
	if d.Server != "" {
		return validAddress("dns.server", d.Server)
	}
	return nil
}

// httpOnly are the assertions that need an HTTP response.
func httpOnly(a *assert.Assertion) bool {
	return a.Status != nil || a.Body != nil || a.JSON != nil || a.Header != nil
}

// validateAssertions checks the assertions on copies: Validate changes nothing.
func (c Check) validateAssertions() error {
	for i := range c.Assertions {
		a := c.Assertions[i]
		if err := a.Compile(); err != nil {
			return fmt.Errorf("assertions[%d]: %w", i, err)
		}
		if httpOnly(&a) && c.HTTP == nil {
			return fmt.Errorf("assertions[%d]: %s needs an http check", i, &a)
		}
		if a.CertificateDaysLeft != nil && c.HTTP == nil && c.TLS == nil {
			return fmt.Errorf("assertions[%d]: %s needs an http or tls check", i, &a)
		}
	}
	if c.HTTP != nil && c.HasStatusAssertion() && len(c.HTTP.ExpectedStatus) > 0 {
		return errors.New("http.expected_status: remove it, a status assertion judges the status")
	}
	return nil
}
