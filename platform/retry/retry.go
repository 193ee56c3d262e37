// Package retry repeats an operation that fails transiently (a broker or
// database that is down) with capped exponential backoff, until it succeeds or
// the context ends. It never gives up on its own: losing the work is worse.
package retry

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Permanent marks an error that retrying cannot fix.
type Permanent struct{ Err error }

func (p Permanent) Error() string { return p.Err.Error() }
func (p Permanent) Unwrap() error { return p.Err }

// Backoff is the delay policy.
type Backoff struct {
	Initial, Max time.Duration
}

// Default is 100ms doubling up to 5s.
var Default = Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// Do calls fn until it returns nil, a Permanent error, or ctx ends (then it
// returns ctx's error joined with fn's last one).
func Do(ctx context.Context, b Backoff, log *slog.Logger, what string, fn func(context.Context) error) error {
	delay := b.Initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("recovered", "op", what, "attempts", attempt)
			}
			return nil
		}
		if p := (Permanent{}); errors.As(err, &p) {
			return p.Err
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		log.Warn("retrying", "op", what, "attempt", attempt, "in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		delay = min(delay*2, b.Max)
	}
}
