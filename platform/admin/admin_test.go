package admin_test

import (
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picket-dev/picket/platform/admin"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The admin server answers /healthz, /readyz with each check's state and
// /metrics, and on cancel stops within its bound, releasing the port.
func TestAdminServesAndStops(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "picket_test_things_total", Help: "things"})
	reg.MustRegister(c)
	s, err := admin.New("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg.ReadHeaderTimeout <= 0 || cfg.ReadTimeout <= 0 || cfg.WriteTimeout <= 0 || cfg.IdleTimeout <= 0 || cfg.ShutdownTimeout != 5*time.Second {
		t.Fatalf("admin server timeouts %+v: want every one set, shutdown 5s", cfg)
	}
	broken := errors.New("kafka: no broker answers")
	s.AddCheck("store", func(context.Context) error { return nil })
	s.AddCheck("kafka", func(context.Context) error { return broken })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "kafka: kafka: no broker answers\n") || !strings.Contains(body, "store: ok\n") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "picket_test_things_total 0") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("admin server did not stop within 10 s")
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("admin port still open after shutdown")
	}
}

// A taken admin port is refused naming the address.
func TestAdminRefusesAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = admin.New(ln.Addr().String(), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "admin listen "+ln.Addr().String()+": ") {
		t.Fatalf("admin on a taken port: %v", err)
	}
}
