package probe

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

func parseOne(t *testing.T, yaml string) check.Check {
	t.Helper()
	checks, err := check.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return checks[0]
}

func TestHTTPRequestOptions(t *testing.T) {
	type seen struct{ query, body, auth string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		buf := make([]byte, 256)
		n, _ := r.Body.Read(buf)
		b.Write(buf[:n])
		got <- seen{r.URL.RawQuery, b.String(), r.Header.Get("Authorization")}
	}))
	defer srv.Close()
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	os.WriteFile(bodyFile, []byte(`{"from":"file"}`), 0o644)
	t.Setenv("PICKET_TEST_PASSWORD", "s3cret")
	t.Setenv("PICKET_TEST_TOKEN", "tok")

	c := parseOne(t, `checks: [{id: a, interval: 1m, http: {method: POST, url: "`+srv.URL+`/x?keep=1", query: {q: "a b"},
  body_file: "`+bodyFile+`", basic_auth: {username: synth, password_env: PICKET_TEST_PASSWORD}}}]`)
	if res := Run(context.Background(), c); !res.Success {
		t.Fatalf("%+v", res)
	}
	s := <-got
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("synth:s3cret"))
	if s.query != "keep=1&q=a+b" || s.body != `{"from":"file"}` || s.auth != wantAuth {
		t.Fatalf("server saw %+v", s)
	}
	c = parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+srv.URL+`", bearer_token_env: PICKET_TEST_TOKEN}}]`)
	Run(context.Background(), c)
	if s := <-got; s.auth != "Bearer tok" {
		t.Fatalf("bearer: %+v", s)
	}
	_, err := check.Parse([]byte(`checks: [{id: a, http: {url: "http://x.test", bearer_token_env: PICKET_TEST_NOT_SET}}]`))
	if err == nil || err.Error() != "checks[0] (a): http.bearer_token_env: environment variable PICKET_TEST_NOT_SET is not set" {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestHTTPRedirectAndBodyLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		w.Write([]byte(strings.Repeat("x", 100)))
	}))
	defer srv.Close()
	res := Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+srv.URL+`/old"}}]`))
	if !res.Success {
		t.Fatalf("followed redirect: %+v", res)
	}
	res = Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+srv.URL+`/old", max_redirects: 0}}]`))
	if res.Success || res.HTTPStatus != 302 || res.Message != "status 302, expected 200" {
		t.Fatalf("redirect not followed: %+v", res)
	}
	res = Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+srv.URL+`/new", max_body_bytes: 100}}]`))
	if !res.Success {
		t.Fatalf("body at the limit: %+v", res)
	}
	res = Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+srv.URL+`/new", max_body_bytes: 99}}]`))
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_PROTOCOL || res.Message != "body longer than max_body_bytes 99" {
		t.Fatalf("body over the limit: %+v", res)
	}
}

func TestHTTPVersionsAndIPVersion(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	res := Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+plain.URL+`", http_version: "2"}}]`))
	if res.Success || res.Message != "protocol HTTP/1.1, expected HTTP/2" {
		t.Fatalf("h2 required over plain HTTP/1.1: %+v", res)
	}
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()
	res = Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+h2.URL+`", http_version: "2", tls: {insecure_skip_verify: true}}}]`))
	if !res.Success {
		t.Fatalf("h2 server: %+v", res)
	}
	res = Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+h2.URL+`", http_version: "1.1", tls: {insecure_skip_verify: true}}}]`))
	if !res.Success {
		t.Fatalf("forced HTTP/1.1: %+v", res)
	}
	res = Run(context.Background(), parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+plain.URL+`", ip_version: "6"}}]`))
	if res.Success || res.Class == eventsv1.FailureClass_FAILURE_CLASS_UNSPECIFIED {
		t.Fatalf("IPv6 to an IPv4 address: %+v", res)
	}
}

func TestHTTPKeepAliveAndProxy(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c := parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "`+srv.URL+`", keep_alive: true}}]`)
	for range 3 {
		if res := Run(context.Background(), c); !res.Success {
			t.Fatalf("%+v", res)
		}
	}
	mu.Lock()
	if conns != 1 {
		t.Fatalf("%d connections for 3 keep-alive runs", conns)
	}
	mu.Unlock()

	proxied := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxied <- r.URL.String() }))
	defer proxy.Close()
	c = parseOne(t, `checks: [{id: a, interval: 1m, http: {url: "http://service.internal.test/health", proxy: "`+proxy.URL+`"}}]`)
	if res := Run(context.Background(), c); !res.Success {
		t.Fatalf("via proxy: %+v", res)
	}
	if u := <-proxied; u != "http://service.internal.test/health" {
		t.Fatalf("proxy got %q", u)
	}
}
