// Command aggregator consumes check results into ClickHouse and emits alert
// state changes. It talks to a ClickHouse server; it never loads libchdb.
package main

import (
	"context"
	"io"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/aggregator"
)

func main() { service.Main("aggregator", run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	src, err := service.Flags("aggregator", args, stderr)
	if err != nil {
		return err
	}
	cfg := aggregator.DefaultConfig()
	if err := config.Load(&cfg, aggregator.DefaultConfig(), src); err != nil {
		return err
	}
	log := telemetry.NewLogger(cfg.Log, stderr).With("service", "aggregator")
	reg := telemetry.NewRegistry()
	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer b.Close()
	a, err := aggregator.New(cfg, st, log, reg)
	if err != nil {
		return err
	}
	return service.Run(ctx, log, reg, cfg.Admin.Addr, map[string]admin.Check{"dependencies": a.Ready}, a.Run)
}
