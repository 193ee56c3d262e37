package httpserver_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/logtest"

	"github.com/picket-dev/picket/platform/httpserver"
)

func start(t *testing.T, h http.Handler, c httpserver.Config) (*httpserver.Server, context.CancelFunc, <-chan error, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	s, err := httpserver.Listen("test server", "127.0.0.1:0", h, slog.New(slog.NewTextHandler(logs, nil)), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx)
		close(done) // a cleanup after a waitRun still returns
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, cancel, done, logs
}

// waitRun waits for Run to return, failing the test if it takes longer than
// within.
func waitRun(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("Run did not return within %s of the shutdown", within)
		return nil
	}
}

// A taken port is an error naming the server and the address, which callers
// can tell apart (errors.Is EADDRINUSE) to say what to do (picket dev names
// its configuration key).
func TestListenRefusesAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = httpserver.Listen("query", addr, http.NotFoundHandler(), slog.New(slog.DiscardHandler), httpserver.Config{})
	if want := "query listen " + addr + ": listen tcp " + addr + ": bind: address already in use"; err == nil ||
		!errors.Is(err, syscall.EADDRINUSE) || err.Error() != want {
		t.Fatalf("listen on a taken address: %v\nwant %s", err, want)
	}
	_, err = httpserver.Listen("admin", "256.0.0.1:80", http.NotFoundHandler(), slog.New(slog.DiscardHandler), httpserver.Config{})
	if err == nil || !strings.HasPrefix(err.Error(), "admin listen 256.0.0.1:80: ") {
		t.Fatalf("listen on a bad address: %v", err)
	}
}

// It serves until cancelled; a request in flight then finishes (the drain),
// and the port is released.
func TestRunServesAndDrainsOnCancel(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s, cancel, done, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok")
	}), httpserver.Config{ShutdownTimeout: 10 * time.Second})
	resp, err := http.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-entered
	cancel()
	close(release)
	if got := <-slow; got != "ok" {
		t.Fatalf("request in flight at shutdown got %q, want it served", got)
	}
	if err := waitRun(t, done, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("still accepting after shutdown")
	}
}

// A request that outlives the shutdown bound is cut: Run returns at the
// bound (not when the handler would have finished), saying so in the log.
func TestShutdownIsBounded(t *testing.T) {
	entered := make(chan struct{})
	hang := make(chan struct{})
	defer close(hang)
	s, cancel, done, logs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-hang // ignores its context, like a stuck dependency call
	}), httpserver.Config{ShutdownTimeout: 200 * time.Millisecond})
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	began := time.Now()
	cancel()
	if err := waitRun(t, done, 5*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Fatalf("Run returned after %s, before the shutdown bound", took)
	}
	if err := <-clientErr; err == nil {
		t.Fatal("the hung request got a response; want its connection cut")
	}
	if l := logs.String(); !strings.Contains(l, "requests still running at the shutdown deadline were cut") || !strings.Contains(l, "connections=1") {
		t.Fatalf("log %q does not say a request was cut", l)
	}
}

// A client that never finishes its headers, or leaves a connection idle, is
// disconnected: the read and idle timeouts are set.
func TestSlowAndIdleClientsAreDisconnected(t *testing.T) {
	s, _, _, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		httpserver.Config{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	closedWithin := func(c net.Conn, r *bufio.Reader) time.Duration {
		t.Helper()
		began := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := r.ReadByte(); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("the server kept the connection open for 5 s")
				}
				return time.Since(began)
			}
		}
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // never ends the headers
	closedWithin(c, bufio.NewReader(c))

	idle, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(idle)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	closedWithin(idle, r) // keep-alive, then idle
}

// Every bound is set, to the defaults where the caller gives none.
func TestEveryTimeoutIsSet(t *testing.T) {
	d := httpserver.DefaultConfig()
	for name, v := range map[string]time.Duration{"read header": d.ReadHeaderTimeout, "read": d.ReadTimeout,
		"write": d.WriteTimeout, "idle": d.IdleTimeout, "shutdown": d.ShutdownTimeout} {
		if v <= 0 {
			t.Errorf("default %s timeout %s", name, v)
		}
	}
	s, err := httpserver.Listen("test", "127.0.0.1:0", http.NotFoundHandler(), slog.New(slog.DiscardHandler), httpserver.Config{WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := d
	want.WriteTimeout = time.Minute
	if s.Config() != want {
		t.Fatalf("config %+v, want %+v", s.Config(), want)
	}
}
