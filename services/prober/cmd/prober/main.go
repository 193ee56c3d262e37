// Command prober runs checks on their schedules and emits their results to Kafka.
package main

import (
	"context"
	"io"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/prober"
)

func main() { service.Main("prober", run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	src, err := service.Flags("prober", args, stderr)
	if err != nil {
		return err
	}
	cfg := prober.DefaultConfig()
	if err := config.Load(&cfg, prober.DefaultConfig(), src); err != nil {
		return err
	}
	log := telemetry.NewLogger(cfg.Log, stderr).With("service", "prober")
	reg := telemetry.NewRegistry()
	p, err := prober.New(cfg, log, reg)
	if err != nil {
		return err
	}
	return service.Run(ctx, log, reg, cfg.Admin.Addr, map[string]admin.Check{"prober": p.Ready}, p.Run)
}
