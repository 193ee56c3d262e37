// Package poll waits, in tests, for something a user would observe to become
// true, checking it on a ticker until a deadline: never a fixed sleep.
package poll

import (
	"testing"
	"time"
)

// Interval is how often conditions are checked.
const Interval = 5 * time.Millisecond

// Until checks cond until it holds, failing t after timeout with what and the
// state cond last described.
func Until(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, state)
		case <-tick.C:
		}
	}
}

// True is Until for a condition with nothing to report.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, timeout, what, func() (bool, string) { return cond(), "not yet" })
}
