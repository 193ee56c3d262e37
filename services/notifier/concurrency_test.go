package notifier

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// With concurrency 4, a slow destination has up to four messages in flight,
// never more, and never two of one alert: each alert's events arrive in the
// order they were written.
func TestConcurrencyKeepsEachAlertInOrder(t *testing.T) {
	var (
		mu               sync.Mutex
		inFlight, peak   int
		byCheck          = map[string][]string{}
		inFlightByCheck  = map[string]int{}
		sameCheckOverlap bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b sentBody
		json.Unmarshal(body, &b)
		c := b.Checks[0]
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		inFlightByCheck[c]++
		sameCheckOverlap = sameCheckOverlap || inFlightByCheck[c] > 1
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // a slow receiver, not a wait for a result
		mu.Lock()
		inFlight--
		inFlightByCheck[c]--
		byCheck[c] = append(byCheck[c], b.Events[0])
		mu.Unlock()
	}))
	defer srv.Close()
	e := newEnv(t)
	e.cfg.Delivery.Destinations = map[string]Policy{"d0": {Concurrency: 4}}
	e.start([]deliver.Sink{&httpSink{name: "d0", url: srv.URL + "/hook/" + secretToken, client: http.DefaultClient}}, Options{})
	const checks, per = 8, 5
	for i := range per {
		for c := range checks {
			e.produce(alertEvent(fmt.Sprintf("c%d-%d", c, i), fmt.Sprintf("c%d", c), down))
		}
	}
	poll.Until(t, 30*time.Second, "every event", func() (bool, string) {
		return e.committed("d0") == checks*per, fmt.Sprint(e.committed("d0"))
	})
	noSecrets(t, e.logs)
	mu.Lock()
	defer mu.Unlock()
	if peak < 2 || peak > 4 || sameCheckOverlap {
		t.Fatalf("peak in flight %d (want 2 to 4), two of one check at once: %v", peak, sameCheckOverlap)
	}
	for c := range checks {
		got := byCheck[fmt.Sprintf("c%d", c)]
		want := []string{}
		for i := range per {
			want = append(want, fmt.Sprintf("c%d-%d", c, i))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("check c%d got %v, want %v in order", c, got, want)
		}
	}
}

// A rate limit spaces the starts of requests; it does not serialise them.
// A receiver holding every request until released, with rate_per_second 20
// and concurrency 4, gets four requests open at once (one at a time before:
// the rate limit made a round of one), never more, and no more than 20
// starts a second.
func TestRateLimitKeepsConcurrency(t *testing.T) {
	var (
		mu             sync.Mutex
		inFlight, peak int
		starts         []time.Time
	)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		starts = append(starts, time.Now())
		mu.Unlock()
		<-release // a slow receiver, until the test has seen the requests pile up
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	defer free() // before srv.Close: a failed test must not leave requests held
	e := newEnv(t)
	e.cfg.Delivery.Destinations = map[string]Policy{"d0": {Concurrency: 4, RatePerSecond: 20}}
	// A backlog waiting when the destination starts: messages polled while
	// requests are open wait for the round's answers (see sendDue).
	const checks = 12
	for c := range checks {
		e.produce(alertEvent(fmt.Sprintf("e%d", c), fmt.Sprintf("c%d", c), down))
	}
	e.start([]deliver.Sink{&httpSink{name: "d0", url: srv.URL + "/hook/" + secretToken, client: http.DefaultClient}}, Options{})
	poll.Until(t, 30*time.Second, "four requests open at once", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return inFlight == 4, fmt.Sprint(inFlight, " open")
	})
	free()
	poll.Until(t, 30*time.Second, "every event", func() (bool, string) {
		return e.committed("d0") == checks, fmt.Sprint(e.committed("d0"))
	})
	mu.Lock()
	defer mu.Unlock()
	if peak != 4 {
		t.Fatalf("peak in flight %d, want 4 (concurrency 4)", peak)
	}
	// 20 starts a second: the 12 requests span at least 11 × 50 ms. (Each
	// gap is not measured: a request's way to the receiver is jittered.)
	if span, least := starts[len(starts)-1].Sub(starts[0]), 11*50*time.Millisecond*9/10; len(starts) != checks || span < least {
		t.Fatalf("%d requests in %s, faster than 20/s (at least %s)", len(starts), span, least)
	}
}
