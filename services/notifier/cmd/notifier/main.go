// Command notifier delivers alert state changes to webhooks.
package main

import (
	"context"
	"io"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/notifier"
)

func main() { service.Main("notifier", run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	src, err := service.Flags("notifier", args, stderr)
	if err != nil {
		return err
	}
	cfg := notifier.DefaultConfig()
	if err := config.Load(&cfg, notifier.DefaultConfig(), src); err != nil {
		return err
	}
	log := telemetry.NewLogger(cfg.Log, stderr).With("service", "notifier")
	reg := telemetry.NewRegistry()
	n, err := notifier.New(cfg, log, reg)
	if err != nil {
		return err
	}
	return service.Run(ctx, log, reg, cfg.Admin.Addr, n.Checks(), n.Run)
}
