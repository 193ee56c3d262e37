package probe

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

func run(t *testing.T, c check.Check) Result {
	t.Helper()
	c.ID, c.Interval = "c", time.Minute
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	c.ApplyDefaults()
	if err := c.Compile(); err != nil {
		t.Fatalf("check: %v", err)
	}
	return Run(context.Background(), c)
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 64)
				n, _ := conn.Read(buf)
				if strings.HasPrefix(string(buf[:n]), "PING") {
					conn.Write([]byte("+PONG\r\n"))
				} else {
					conn.Write([]byte("-ERR unknown\r\n"))
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	tests := []struct {
		name    string
		tcp     check.TCP
		success bool
		class   eventsv1.FailureClass
		message string
	}{
		{"connect only", check.TCP{Address: addr}, true, 0, ""},
		{"expected reply", check.TCP{Address: addr, Send: "PING\r\n", Expect: "+PONG"}, true, 0, ""},
		{"wrong reply", check.TCP{Address: addr, Send: "HELLO\r\n", Expect: "+PONG"}, false,
			eventsv1.FailureClass_FAILURE_CLASS_ASSERTION, `reply "-ERR unknown\r\n" does not contain "+PONG"`},
		{"refused", check.TCP{Address: closedAddr}, false, eventsv1.FailureClass_FAILURE_CLASS_CONNECT, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tcp := tc.tcp
			res := run(t, check.Check{TCP: &tcp})
			if res.Success != tc.success || res.Class != tc.class || !strings.Contains(res.Message, tc.message) {
				t.Fatalf("result %+v", res)
			}
			if tc.success && tcp.Expect != "" && (res.TTFB <= 0 || res.TTFB > res.Duration) {
				t.Fatalf("ttfb %v of %v", res.TTFB, res.Duration)
			}
		})
	}
}

func TestDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "svc.test." {
			rr, _ := dns.NewRR("svc.test. 60 IN A 192.0.2.10")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	server := pc.LocalAddr().String()
	tests := []struct {
		name    string
		dns     check.DNS
		success bool
		message string
	}{
		{"answer present", check.DNS{Name: "svc.test", Server: server, Answers: []string{"192.0.2.10"}}, true, ""},
		{"answer missing", check.DNS{Name: "svc.test", Server: server, Answers: []string{"192.0.2.99"}}, false,
			`answers [192.0.2.10] do not include "192.0.2.99"`},
		{"nxdomain", check.DNS{Name: "gone.test", Server: server}, false, "rcode NXDOMAIN, expected NOERROR"},
		{"nxdomain expected", check.DNS{Name: "gone.test", Server: server, Rcode: "nxdomain"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dns
			res := run(t, check.Check{DNS: &d})
			if res.Success != tc.success || !strings.Contains(res.Message, tc.message) {
				t.Fatalf("result %+v", res)
			}
			if !tc.success && res.Class != eventsv1.FailureClass_FAILURE_CLASS_ASSERTION {
				t.Fatalf("class %v", res.Class)
			}
		})
	}
}

func TestTLSAndCustomCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := srv.Listener.Addr().String()
	notAfter := srv.Certificate().NotAfter
	days := int(time.Until(notAfter) / (24 * time.Hour))

	res := run(t, check.Check{TLS: &check.TLSCheck{Address: addr, MinDaysLeft: 30, Options: check.TLSOptions{CAFile: caFile}}})
	if !res.Success || res.Cert == nil || !res.Cert.Verified || !res.Cert.NotAfter.Equal(notAfter) || res.Phases.TLS <= 0 {
		t.Fatalf("trusted: %+v %+v", res, res.Cert)
	}
	res = run(t, check.Check{TLS: &check.TLSCheck{Address: addr, MinDaysLeft: days + 1, Options: check.TLSOptions{CAFile: caFile}}})
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_ASSERTION || !strings.Contains(res.Message, "expected at least") {
		t.Fatalf("expiring: %+v", res)
	}
	res = run(t, check.Check{TLS: &check.TLSCheck{Address: addr}})
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_TLS {
		t.Fatalf("untrusted: %+v", res)
	}
	res = run(t, check.Check{TLS: &check.TLSCheck{Address: addr, Options: check.TLSOptions{CAFile: caFile, ServerName: "wrong.test"}}})
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_TLS || !strings.Contains(res.Message, "wrong.test") {
		t.Fatalf("wrong name: %+v", res)
	}
	res = run(t, check.Check{TLS: &check.TLSCheck{Address: addr, Options: check.TLSOptions{InsecureSkipVerify: true}}})
	if !res.Success || res.Cert == nil || res.Cert.Verified {
		t.Fatalf("insecure: %+v", res)
	}
	// HTTPS with the custom CA: verified, and the certificate is reported.
	res = run(t, check.Check{HTTP: &check.HTTP{Method: "GET", URL: srv.URL, ExpectedStatus: []int{200}, TLS: &check.TLSOptions{CAFile: caFile}}})
	if !res.Success || res.Cert == nil || !res.Cert.Verified || res.Phases.TLS <= 0 {
		t.Fatalf("https: %+v", res)
	}
}

// Every assertion is judged and reported; the first failure explains the run.
func TestHTTPAssertions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"DOWN","version":"1.4.2"}`))
	}))
	defer srv.Close()
	checks, err := check.Parse([]byte(`checks:
  - id: health
    interval: 1m
    http: {url: "` + srv.URL + `"}
    assertions:
      - status: [2xx]
      - header: {name: Content-Type, equals: application/json}
      - json: {path: $.status, op: "==", value: UP}
      - body: {contains: "1.4"}
      - response_time: {below: 1ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), checks[0])
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_ASSERTION || res.Message != `$.status == "DOWN", expected "UP"` {
		t.Fatalf("result %+v", res)
	}
	var passed []bool
	for _, a := range res.Assertions {
		passed = append(passed, a.Passed)
	}
	if len(passed) != 5 || !passed[0] || !passed[1] || passed[2] || !passed[3] {
		t.Fatalf("outcomes %+v", res.Assertions)
	}
	if res.Assertions[4].Passed && res.Duration >= time.Millisecond {
		t.Fatalf("response time assertion passed for a %v run", res.Duration)
	}
}

func TestStatusAssertionReplacesExpectedStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	checks, err := check.Parse([]byte("checks: [{id: a, interval: 1m, http: {url: \"" + srv.URL + "\"}, assertions: [{status: [2xx]}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	if res := Run(context.Background(), checks[0]); !res.Success || len(res.Assertions) != 1 {
		t.Fatalf("204 with status 2xx: %+v", res)
	}
	checks, _ = check.Parse([]byte("checks: [{id: a, interval: 1m, http: {url: \"" + srv.URL + "\"}, assertions: [{status: [200]}]}]"))
	if res := Run(context.Background(), checks[0]); res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_STATUS || res.Message != "status 204, expected 200" {
		t.Fatalf("204 with status 200: %+v", res)
	}
}

func TestConfirmRetriesAFailureBeforeReporting(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := httpCheck(srv.URL, time.Second)
	c.Retries, c.RetryDelay = 3, time.Millisecond
	res, attempts := Confirm(context.Background(), context.Background(), c)
	if !res.Success || attempts != 3 {
		t.Fatalf("success=%v after %d attempts, want success on the 3rd", res.Success, attempts)
	}
	c.Retries = 1
	mu.Lock()
	calls = 0
	mu.Unlock()
	res, attempts = Confirm(context.Background(), context.Background(), c)
	if res.Success || attempts != 2 || res.Message != "status 502, expected 200" {
		t.Fatalf("%+v after %d attempts, want a confirmed failure after 2", res, attempts)
	}
}

// At shutdown no retry starts: a long retry delay does not hold the run.
func TestConfirmStopsRetryingWhenRetriesEnd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	c := httpCheck(srv.URL, time.Second)
	c.Retries, c.RetryDelay = 3, time.Hour
	retries, stop := context.WithCancel(context.Background())
	stop()
	res, attempts := Confirm(context.Background(), retries, c)
	if res.Success || attempts != 1 || res.Message != "status 502, expected 200" {
		t.Fatalf("%+v after %d attempts, want the first failure, unconfirmed", res, attempts)
	}
}
