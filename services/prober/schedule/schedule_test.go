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

func TestOffsetStableAndSpread(t *testing.T) {
	interval := 10 * time.Second
	if Offset("api", interval) != Offset("api", interval) {
		t.Fatal("offset not stable")
	}
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
// run skips the ticks it overlapped, and cancelling stops the loop.
func TestRunTicksOnGridWithoutOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var ticks []time.Time
		interval := time.Second
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(ctx, RealClock{}, "api", interval, func(tick time.Time, lag time.Duration) {
				mu.Lock()
				ticks = append(ticks, tick)
				n := len(ticks)
				mu.Unlock()
				if lag != 0 {
					t.Errorf("lag %v under virtual time", lag)
				}
				if n == 3 {
					time.Sleep(2500 * time.Millisecond) // a slow run: overlaps the next two ticks
				}
			})
		}()
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		offset := Offset("api", interval)
		for i, tk := range ticks {
			if (tk.UnixNano()-int64(offset))%int64(interval) != 0 {
				t.Fatalf("tick %d %v off the grid", i, tk)
			}
			if i > 0 && tk.Sub(ticks[i-1]) != interval && !(i == 3 && tk.Sub(ticks[i-1]) == 3*interval) {
				t.Fatalf("tick %d follows %v after the previous", i, tk.Sub(ticks[i-1]))
			}
		}
		if len(ticks) < 7 || len(ticks) > 9 {
			t.Fatalf("%d runs in 10 s with one slow run", len(ticks))
		}
	})
}
