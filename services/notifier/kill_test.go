package notifier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"
)

// idRecv counts the requests it accepted by webhook-id, slowly enough that
// a kill often lands while a request is in flight.
type idRecv struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids map[string]int
}

func newIDRecv(t *testing.T) *idRecv {
	r := &idRecv{ids: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // a slow receiver, not a wait for a result
		r.mu.Lock()
		r.ids[req.Header.Get("webhook-id")]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *idRecv) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.ids))
	for k, v := range r.ids {
		out[k] = v
	}
	return out
}

// The service binary SIGKILLed at random points while delivering to three
// destinations: every event reaches each destination, and an event is sent
// twice only when it was in flight at a kill — at most one message per
// destination per kill — with the same webhook-id.
func TestNotifierKilledLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the service binary")
	}
	bin := filepath.Join(t.TempDir(), "notifier")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/notifier").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	e := newEnv(t)
	rs := []*idRecv{newIDRecv(t), newIDRecv(t), newIDRecv(t)}
	cfgFile := filepath.Join(t.TempDir(), "notifier.yaml")
	yaml := fmt.Sprintf("kafka:\n  brokers: [%q]\n  partitions: 3\nadmin:\n  addr: 127.0.0.1:0\nsafety:\n  allow: [127.0.0.1]\ndelivery:\n  instance_id: kill-test\nwebhooks:\n", e.cfg.Kafka.Brokers[0])
	for i, r := range rs {
		yaml += fmt.Sprintf("  - name: d%d\n    url: %s/hook/%s\n", i, r.srv.URL, secretToken)
	}
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", cfgFile)
		cmd.Stderr, cmd.Stdout = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const events = 300
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range events {
			if ctx.Err() != nil {
				return
			}
			e.produce(alertEvent(fmt.Sprintf("k%03d", i), fmt.Sprintf("c%d", i%17), down))
			time.Sleep(2 * time.Millisecond) // pacing the producer, not waiting for a result
		}
	})
	const kills = 6
	for k := range kills {
		cmd := start()
		// Let it deliver a while, then kill it wherever it is.
		target := len(rs[k%3].counts()) + 5 + rand.IntN(20)
		poll.Until(t, 60*time.Second, "some deliveries before the kill", func() (bool, string) {
			n := len(rs[k%3].counts())
			return n >= min(target, events), fmt.Sprint(n)
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}
	wg.Wait()
	cmd := start()
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	for i, r := range rs {
		poll.Until(t, 120*time.Second, fmt.Sprintf("d%d has every event", i), func() (bool, string) {
			return len(r.counts()) == events, fmt.Sprint(len(r.counts()))
		})
	}
	for i, r := range rs {
		for id := range r.counts() {
			if len(id) != 4 || id[0] != 'k' {
				t.Errorf("d%d got webhook-id %q, not an event id", i, id)
			}
		}
		dups := 0
		for id, n := range r.counts() {
			if n > 1 {
				dups += n - 1
				t.Logf("d%d: %s sent %d times (same webhook-id)", i, id, n)
			}
		}
		if dups > kills {
			t.Errorf("d%d: %d duplicates after %d kills; at most one in flight per kill", i, dups, kills)
		}
	}
	noSecrets(t, logs)
}
