package schedule

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestNextIsOnTheGridAndStrictlyAfter(t *testing.T) {
	interval, offset := 10*time.Second, 2500*time.Millisecond
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Millisecond, 2500 * time.Millisecond, 9999 * time.Millisecond, 12500 * time.Millisecond} {
		now := base.Add(d)
		next := Next(now, interval, offset)
		if !next.After(now) || next.Sub(now) > interval {
			t.Fatalf("Next(%v) = %v", now, next)
		}
		if (next.UnixNano()-int64(offset))%int64(interval) != 0 {
			t.Fatalf("Next(%v) = %v is off the grid", now, next)
		}
	}
	if got := Next(base.Add(2500*time.Millisecond), interval, offset); !got.Equal(base.Add(12500 * time.Millisecond)) {
		t.Fatalf("a time on the grid must give the next point, got %v", got)
	}
}

// The phase of a check is part of its result ids (tick → id): a change to
// Offset would move every check's ticks and re-id its results after an
// upgrade. The values are FNV-1a 64 of the id modulo the interval in whole
// milliseconds (nanoseconds when the interval is not whole ms), computed
// independently of this code.
func TestOffsetGolden(t *testing.T) {
	for _, c := range []struct {
		id       string
		interval time.Duration
		want     time.Duration
	}{
		{"api", 10 * time.Second, 7879 * time.Millisecond},
		{"api", time.Minute, 27879 * time.Millisecond},
		{"checkout", 30 * time.Second, 24873 * time.Millisecond},
		{"", 10 * time.Second, 6037 * time.Millisecond},
		{"api", 1500 * time.Microsecond, 87879 * time.Nanosecond},
	} {
		if got := Offset(c.id, c.interval); got != c.want {
			t.Errorf("Offset(%q, %s) = %s, want %s", c.id, c.interval, got, c.want)
		}
	}
}

func TestOffsetSpread(t *testing.T) {
	interval := 10 * time.Second
	// 10,000 checks spread over 10 one-second buckets: each within 20 % of 1,000.
	buckets := make([]int, 10)
	for i := range 10000 {
		o := Offset(fmt.Sprintf("check-%d", i), interval)
		if o < 0 || o >= interval || o%time.Millisecond != 0 {
			t.Fatalf("offset %v out of range or not whole ms", o)
		}
		buckets[o/time.Second]++
	}
	for i, n := range buckets {
		if n < 800 || n > 1200 {
			t.Fatalf("bucket %d has %d checks: %v", i, n, buckets)
		}
	}
}

// Under synctest time is virtual: runs land exactly on their ticks, a slow
// run skips the ticks it overlapped, and removing a check stops it once its
// run in progress is over.
func TestSchedulerTicksOnGridWithoutOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s := NewScheduler(RealClock{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Run(ctx)
		}()
		var mu sync.Mutex
		ticks := map[string][]time.Time{}
		interval := time.Second
		record := func(id string, slowAt int) func(time.Time, time.Duration) {
			return func(tick time.Time, lag time.Duration) {
				mu.Lock()
				ticks[id] = append(ticks[id], tick)
				n := len(ticks[id])
				mu.Unlock()
				if lag != 0 {
					t.Errorf("%s: lag %v under virtual time", id, lag)
				}
				if n == slowAt {
					time.Sleep(2500 * time.Millisecond) // a slow run: overlaps the next two ticks
				}
			}
		}
		s.Add("api", interval, record("api", 3))
		s.Add("web", interval, record("web", -1))
		gone := s.Add("gone", interval, record("gone", -1))
		time.Sleep(3500 * time.Millisecond) // virtual time under synctest
		<-s.Remove(gone)
		mu.Lock()
		goneRuns := len(ticks["gone"])
		mu.Unlock()
		time.Sleep(6500 * time.Millisecond) // virtual time under synctest
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(ticks["gone"]) != goneRuns || goneRuns < 3 {
			t.Fatalf("removed check ran %d times, %d before removal", len(ticks["gone"]), goneRuns)
		}
		if n := len(ticks["web"]); n != 10 {
			t.Fatalf("web ran %d times in 10 s", n)
		}
		for id, tk := range ticks {
			offset := Offset(id, interval)
			for i := range tk {
				if (tk[i].UnixNano()-int64(offset))%int64(interval) != 0 {
					t.Fatalf("%s tick %d %v off the grid", id, i, tk[i])
				}
				if i > 0 && tk[i].Sub(tk[i-1]) != interval && !(id == "api" && i == 3 && tk[i].Sub(tk[i-1]) == 3*interval) {
					t.Fatalf("%s tick %d follows %v after the previous", id, i, tk[i].Sub(tk[i-1]))
				}
			}
		}
		if n := len(ticks["api"]); n < 7 || n > 9 {
			t.Fatalf("api ran %d times in 10 s with one slow run", n)
		}
	})
}

// countingClock is the wall clock counting the waits Run starts.
type countingClock struct {
	RealClock
	mu    sync.Mutex
	waits int
}

func (c *countingClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits++
	c.mu.Unlock()
	return c.RealClock.After(d)
}

// A run that finishes queues its check's next tick behind the others: the
// scheduler, sleeping until the head's tick, is not woken for it. At 1,000
// runs it starts about one wait per run, not two, and every run still
// happens on time.
func TestSchedulerWaitsOncePerRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		clk := &countingClock{}
		s := NewScheduler(clk)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Run(ctx)
		}()
		var mu sync.Mutex
		runs := 0
		for i := range 100 {
			s.Add(fmt.Sprintf("check-%d", i), time.Second, func(_ time.Time, lag time.Duration) {
				if lag != 0 {
					t.Errorf("lag %v under virtual time", lag)
				}
				mu.Lock()
				runs++
				mu.Unlock()
			})
		}
		time.Sleep(10 * time.Second) // virtual time under synctest
		cancel()
		<-done
		clk.mu.Lock()
		defer clk.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		if runs < 990 || runs > 1000 {
			t.Fatalf("%d runs of 100 checks every second in 10 s, want 1,000", runs)
		}
		t.Logf("%d waits for %d runs", clk.waits, runs)
		if clk.waits > runs*12/10 {
			t.Fatalf("%d waits for %d runs: the scheduler woke for runs queued behind the head", clk.waits, runs)
		}
	})
}
