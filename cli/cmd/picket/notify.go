package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/notifier"
)

const notifyUsage = `usage: picket notify <redrive|test> [flags] --config notifier.yaml

  redrive --destination D --from T [--to T2]
      re-sends the events parked for destination D (in the notifier's park topic) between
      T and T2 (default now), once each, with the webhook-id they were parked with.
      T is an RFC 3339 time or a duration ago (24h).
  test DESTINATION
      renders and sends one sample notification to DESTINATION, once.

Both read the notifier's configuration (--config, --set, PICKET_ variables). Without one, against
the running ` + "`picket dev`" + ` of ./data (or --data-dir), they use its notifier's destinations.`

// notifyCmd is `picket notify`: small wrappers around the notifier module.
func notifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, notifyUsage)
		return errors.New("notify: no subcommand given")
	}
	switch args[0] {
	case "redrive":
		return notifyRedrive(ctx, args[1:], stdout, stderr)
	case "test":
		return notifyTest(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, notifyUsage)
		return nil
	}
	return fmt.Errorf("notify: unknown subcommand %q\n%s", args[0], notifyUsage)
}

func notifierConfig(source func() config.Source) (notifier.Config, error) {
	cfg := notifier.DefaultConfig()
	err := config.Load(&cfg, notifier.DefaultConfig(), source())
	return cfg, err
}

func notifyRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, source := service.FlagSet("picket notify redrive", stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), notifyUsage); fs.PrintDefaults() }
	dest := fs.String("destination", "", "the destination `name` whose parked events to re-send (required)")
	dataDir := fs.String("data-dir", "", dataDirUsage)
	fromFlag := fs.String("from", "", "parked at or after `T` (required)")
	toFlag := fs.String("to", "", "parked before `T` (default: now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("notify redrive: unexpected argument %q", fs.Arg(0))
	}
	if *dest == "" {
		return errors.New("notify redrive: --destination is required")
	}
	if *fromFlag == "" {
		return errors.New("notify redrive: --from is required: an RFC 3339 time or a duration ago (24h)")
	}
	now := time.Now()
	from, _, err := timeFlag("from", *fromFlag, now)
	if err != nil {
		return err
	}
	to := now
	if *toFlag != "" {
		if to, _, err = timeFlag("to", *toFlag, now); err != nil {
			return err
		}
	}
	if !to.After(from) {
		return fmt.Errorf("notify redrive: --to %s must be after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	src := source()
	dev, err := findDev(*dataDir, src)
	if err != nil {
		return fmt.Errorf("notify redrive: %w", err)
	}
	if dev != nil {
		return dev.notify(ctx, "notify redrive", stderr, func(c ops.Client) error {
			return c.NotifyRedrive(ctx, ops.NotifyRedriveRequest{Destination: *dest, From: from, To: to}, stdout, stderr)
		})
	}
	cfg, err := notifierConfig(func() config.Source { return src })
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(cfg.Log, stderr).With("component", "redrive")
	res, err := notifier.RedriveDestination(ctx, cfg, log, *dest, from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "redrive %s: %d sent, %d failed\n", *dest, res.Sent, res.Failed)
	for id, e := range res.Errors {
		fmt.Fprintf(stdout, "  %s: %s\n", id, e)
	}
	if res.Failed > 0 {
		return fmt.Errorf("notify redrive: %d of %d not sent", res.Failed, res.Sent+res.Failed)
	}
	return nil
}

func notifyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, source := service.FlagSet("picket notify test", stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), notifyUsage); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", "", dataDirUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("notify test: want one DESTINATION")
	}
	dest := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil { // flags after the destination
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("notify test: unexpected argument %q", fs.Arg(0))
	}
	src := source()
	dev, err := findDev(*dataDir, src)
	if err != nil {
		return fmt.Errorf("notify test: %w", err)
	}
	if dev != nil {
		return dev.notify(ctx, "notify test", stderr, func(c ops.Client) error {
			return c.NotifyTest(ctx, ops.NotifyTestRequest{Destination: dest}, stdout, stderr)
		})
	}
	cfg, err := notifierConfig(func() config.Source { return src })
	if err != nil {
		return err
	}
	key, err := notifier.SendTest(ctx, cfg, dest, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent a test notification to %s (webhook-id %s)\n", dest, key)
	return nil
}
