// Package schedule runs each check on a fixed grid: tick n of a check is
// epoch + offset + n·interval, where offset is a stable hash of the check id.
// Checks with the same interval spread evenly over it, and a restarted prober
// keeps the same phase, so the tick (and the result id derived from it) of a
// run does not depend on when the prober started.
//
// A check's runs never overlap: the next tick is the first grid point after
// the previous run finished. Scheduler runs them all from one goroutine.
package schedule

import (
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

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
