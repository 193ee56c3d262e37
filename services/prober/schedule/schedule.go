// Package schedule runs each check on a fixed grid: tick n of a check is
// epoch + offset + n·interval, where offset is a stable hash of the check id.
// Checks with the same interval spread evenly over it, and a restarted prober
// keeps the same phase, so the tick (and the result id derived from it) of a
// run does not depend on when the prober started.
//
// A check's runs never overlap: the next tick is the first grid point after
// the previous run finished.
package schedule

import (
	"context"
	"hash/fnv"
	"time"
)

// Offset is the check's stable phase within its interval, in whole
// milliseconds (the resolution events are stored at) when the interval allows.
func Offset(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	unit := time.Millisecond
	if interval%unit != 0 {
		unit = 1
	}
	return time.Duration(h.Sum64()%uint64(interval/unit)) * unit
}

// Next returns the first grid point of (offset, interval) strictly after t.
func Next(t time.Time, interval, offset time.Duration) time.Time {
	base := t.UnixNano() - int64(offset)
	n := base / int64(interval)
	if base < 0 && base%int64(interval) != 0 {
		n-- // floor for times before the epoch + offset
	}
	return time.Unix(0, (n+1)*int64(interval)+int64(offset))
}

// Clock is the time source; tests give a fake one.
type Clock interface {
	Now() time.Time
	// After waits until d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Run calls run for every tick of the check's grid until ctx is done. run
// receives the tick and how late it started. A run in progress when ctx ends
// is finished, not cut short: its result is worth keeping.
func Run(ctx context.Context, clk Clock, id string, interval time.Duration, run func(tick time.Time, lag time.Duration)) {
	offset := Offset(id, interval)
	tick := Next(clk.Now(), interval, offset)
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(tick.Sub(clk.Now())):
		}
		if ctx.Err() != nil {
			return
		}
		run(tick, clk.Now().Sub(tick))
		tick = Next(later(clk.Now(), tick), interval, offset)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
