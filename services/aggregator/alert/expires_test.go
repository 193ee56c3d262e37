package alert

import (
	"testing"
	"time"
)

// ExpiresAt is exactly the clock at which Advance of a tracker with nothing
// pending makes the check stale: the caller skips the tracker before it
// (the aggregator's per-batch loop over every check), changing nothing.
func TestExpiresAtIsWhenAdvanceMakesTheCheckStale(t *testing.T) {
	tr := NewTracker("api", "API", availability(0.8, 5*time.Second), Options{Lateness: 2 * time.Second, StaleAfter: 5})
	feed(tr, results("eu", t0, "++++++++"))
	last := t0.Add(7 * time.Second)
	due, ok := tr.ExpiresAt()
	if !ok || !due.Equal(last.Add(7*time.Second)) || tr.Pending() != 0 {
		t.Fatalf("ExpiresAt %v %v with %d pending, want %v (5 intervals and the lateness after the newest result)", due, ok, tr.Pending(), last.Add(7*time.Second))
	}
	if got := tr.Advance(due.Add(-time.Millisecond)); len(got) != 0 {
		t.Fatalf("before ExpiresAt Advance gave %q", states(got))
	}
	if got := tr.Advance(due); states(got) != "stale" {
		t.Fatalf("at ExpiresAt Advance gave %q, want stale", states(got))
	}
	if _, ok := tr.ExpiresAt(); ok {
		t.Fatal("a check already stale for this silence still expires")
	}
	noStale := NewTracker("api", "API", availability(0.8, 5*time.Second), Options{Lateness: 2 * time.Second})
	feed(noStale, results("eu", t0, "++++"))
	if _, ok := noStale.ExpiresAt(); ok {
		t.Fatal("a tracker without stale_after expires")
	}
}
