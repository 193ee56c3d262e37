package notifier

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"
)

// The wait after the n-th failure doubles from backoff_initial up to
// backoff_max, each drawn from its upper half (jitter), never more.
func TestBackoffIsExponentialWithJitterAndCapped(t *testing.T) {
	d := &destination{policy: Policy{BackoffInitial: time.Second, BackoffMax: 8 * time.Second}, rnd: rand.New(rand.NewPCG(1, 2))}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			b := d.backoff(n)
			if b < want/2 || b > want {
				t.Fatalf("backoff after %d failures: %s, want within [%s, %s]", n, b, want/2, want)
			}
			seen[b] = true
		}
		if len(seen) < 50 {
			t.Fatalf("backoff after %d failures took %d distinct values in 200 draws: no jitter", n, len(seen))
		}
	}
}

// A destination's Retry-After is honoured: the next attempt waits at least
// that long, though the backoff would be shorter.
func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t)
	rc := newRecv(t)
	rc.script = map[string][]int{"ra": {http.StatusTooManyRequests}}
	rc.retryAfter = 30
	clock := &fakeClock{t: time.Now()}
	n, _ := e.start(sinksFor([]*recv{rc}), Options{Now: clock.now})
	e.produce(alertEvent("ra", "api", down))
	d := n.dests[0]
	poll.Until(t, 20*time.Second, "the first attempt refused", func() (bool, string) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.queue) == 1 && d.queue[0].attempts == 1, fmt.Sprint(len(d.queue))
	})
	d.mu.Lock()
	wait := d.queue[0].next.Sub(clock.now())
	d.mu.Unlock()
	if wait < 30*time.Second {
		t.Fatalf("next attempt in %s, want at least the 30s Retry-After (backoff is 10-50ms here)", wait)
	}
	clock.add(30 * time.Second)
	poll.Until(t, 20*time.Second, "delivered after the wait", func() (bool, string) { return rc.eventsGot()["ra"] == 1, "" })
}
