package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/notifier"
)

// NotifyTestRequest asks for one sample notification to Destination.
type NotifyTestRequest struct {
	Destination string `json:"destination"`
}

// NotifyRedriveRequest asks to re-send what Destination parked in [From, To).
type NotifyRedriveRequest struct {
	Destination string    `json:"destination"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
}

// errNoNotifier is the answer of a stack that runs no notifier to hand its
// configuration to a notify operation (a stopped one: its destinations live
// in the running process's configuration).
var errNoNotifier = errors.New("no running notifier to take its destinations from: start `picket dev` (make run), or give the notifier's configuration with --config")

// NotifyTest renders and sends one sample notification to the destination
// of env's notifier, as `picket notify test` does against a production one.
func NotifyTest(ctx context.Context, env Env, req NotifyTestRequest, stdout io.Writer) error {
	if env.Notifier == nil {
		return fmt.Errorf("notify test: %s: %w", env.Where, errNoNotifier)
	}
	key, err := notifier.SendTest(ctx, *env.Notifier, req.Destination, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent a test notification to %s (webhook-id %s)\n", req.Destination, key)
	return nil
}

// NotifyRedrive re-sends the events parked for a destination of env's
// notifier, once each, with the webhook-id they were parked with.
func NotifyRedrive(ctx context.Context, env Env, req NotifyRedriveRequest, stdout, stderr io.Writer) error {
	if env.Notifier == nil {
		return fmt.Errorf("notify redrive: %s: %w", env.Where, errNoNotifier)
	}
	cfg := *env.Notifier
	lc := cfg.Log
	lc.Format = "text"
	log := telemetry.NewLogger(lc, stderr).With("component", "redrive")
	res, err := notifier.RedriveDestination(ctx, cfg, log, req.Destination, req.From, req.To)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "redrive %s: %d sent, %d failed\n", req.Destination, res.Sent, res.Failed)
	for id, e := range res.Errors {
		fmt.Fprintf(stdout, "  %s: %s\n", id, e)
	}
	if res.Failed > 0 {
		return fmt.Errorf("notify redrive: %d of %d not sent", res.Failed, res.Sent+res.Failed)
	}
	return nil
}
