package probe

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

func httpCheck(url string, timeout time.Duration, expected ...int) check.Check {
	if len(expected) == 0 {
		expected = []int{200}
	}
	c := check.Check{ID: "c", Interval: time.Minute, Timeout: timeout,
		HTTP: &check.HTTP{Method: "POST", URL: url, Body: `{"a":1}`, Headers: map[string]string{"X-Test": "yes"}, ExpectedStatus: expected}}
	c.ApplyDefaults()
	if err := c.Compile(); err != nil {
		panic(err)
	}
	return c
}

func TestHTTP(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		expected []int
		timeout  time.Duration
		success  bool
		class    eventsv1.FailureClass
		message  string
		status   int
	}{
		{name: "expected status", handler: func(w http.ResponseWriter, r *http.Request) {}, success: true, status: 200},
		{name: "401 is a failure for a synthetic client", status: 401,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) },
			class:   eventsv1.FailureClass_FAILURE_CLASS_STATUS, message: "status 401, expected 200"},
		{name: "500", status: 500, handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
			expected: []int{200, 204}, class: eventsv1.FailureClass_FAILURE_CLASS_STATUS, message: "status 500, expected 200 or 204"},
		{name: "timeout", timeout: 50 * time.Millisecond,
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			class:   eventsv1.FailureClass_FAILURE_CLASS_TIMEOUT, message: "context deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type seen struct{ body, header string }
			got := make(chan seen, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got <- seen{string(body), r.Header.Get("X-Test")}
				tc.handler(w, r)
			}))
			defer srv.Close()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			res := Run(context.Background(), httpCheck(srv.URL, timeout, tc.expected...))
			if res.Success != tc.success || res.Class != tc.class || res.HTTPStatus != tc.status {
				t.Fatalf("result %+v", res)
			}
			if !strings.Contains(res.Message, tc.message) {
				t.Fatalf("message %q, want it to contain %q", res.Message, tc.message)
			}
			if g := <-got; g.body != `{"a":1}` || g.header != "yes" {
				t.Fatalf("server got body %q header %q", g.body, g.header)
			}
			if res.Duration <= 0 || res.TTFB > res.Duration || (tc.status != 0 && res.TTFB <= 0) {
				t.Fatalf("timings: duration %v ttfb %v", res.Duration, res.TTFB)
			}
		})
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := Run(context.Background(), httpCheck("http://"+addr+"/", time.Second))
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_CONNECT || !strings.Contains(res.Message, "connection refused") {
		t.Fatalf("result %+v", res)
	}
}

func TestHTTPUnknownHost(t *testing.T) {
	res := Run(context.Background(), httpCheck("http://no-such-host.invalid/", 2*time.Second))
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_DNS {
		t.Fatalf("result %+v", res)
	}
}

func TestHTTPUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	res := Run(context.Background(), httpCheck(srv.URL, 2*time.Second))
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_TLS {
		t.Fatalf("result %+v", res)
	}
}

// Every run opens its own connection: keep-alive would hide connect time.
func TestHTTPFreshConnectionPerRun(t *testing.T) {
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns++
		}
	}
	srv.Start()
	defer srv.Close()
	for range 3 {
		if res := Run(context.Background(), httpCheck(srv.URL, time.Second)); !res.Success {
			t.Fatalf("result %+v", res)
		}
	}
	srv.Close()
	if conns != 3 {
		t.Fatalf("%d connections for 3 runs", conns)
	}
}

// Phases come from httptrace and add up to no more than the whole run; a
// redirect's hops are summed.
func TestHTTPPhases(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // server processing time being measured
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/end", http.StatusFound)
			return
		}
		w.Write(make([]byte, 1<<16))
	}))
	defer srv.Close()
	res := Run(context.Background(), httpCheck(srv.URL+"/start", 5*time.Second))
	if !res.Success {
		t.Fatalf("result %+v", res)
	}
	ph := res.Phases
	if ph.DNS != 0 || ph.TLS != 0 {
		t.Fatalf("an IP address over plain HTTP has no DNS or TLS phase: %+v", ph)
	}
	if ph.Connect <= 0 || ph.Processing < 40*time.Millisecond || ph.Transfer < 0 {
		t.Fatalf("phases %+v: want connect > 0 and two hops of 20ms processing", ph)
	}
	if sum := ph.DNS + ph.Connect + ph.TLS + ph.Processing + ph.Transfer; sum > res.Duration {
		t.Fatalf("phases sum to %v, more than the run's %v", sum, res.Duration)
	}
	if res.TTFB < ph.Processing || res.TTFB > res.Duration {
		t.Fatalf("ttfb %v, processing %v, duration %v", res.TTFB, ph.Processing, res.Duration)
	}
}

func TestHTTPSPhasesIncludeTLSAndDNS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	res := Run(context.Background(), httpCheck(url, 2*time.Second))
	// The certificate is not trusted, but the handshake happened and was timed.
	if res.Class != eventsv1.FailureClass_FAILURE_CLASS_TLS || res.Phases.TLS <= 0 || res.Phases.DNS <= 0 {
		t.Fatalf("result %+v", res)
	}
}
