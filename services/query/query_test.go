package query

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

	"github.com/picket-dev/picket/platform/store"
)

// The query server serves, sets every connection timeout (writes outlasting
// the request timeout, so a 504 can still be written), refuses a taken port
// naming it, and stops within its bound.
func TestServerServesAndStops(t *testing.T) {
	st, err := store.New(nil, "picket") // the dashboard page reads nothing
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := Listen("127.0.0.1:0", st, log, RequestTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.IdleTimeout <= 0 || c.ShutdownTimeout != 10*time.Second ||
		c.WriteTimeout <= 20*time.Second {
		t.Fatalf("timeouts %+v", c)
	}
	_, err = Listen(s.Addr(), st, log)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || err.Error() != "query listen "+s.Addr()+": listen tcp "+s.Addr()+": bind: address already in use" {
		t.Fatalf("second server on %s: %v", s.Addr(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	resp, err := http.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("query server did not stop")
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("still listening after shutdown")
	}
}
