// Command notifier delivers alert state changes to webhooks.
package main

import (
	"context"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/notifier/deliver"
	"github.com/picket-dev/picket/services/notifier/deliverylog"
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
	sinks, err := notifier.Sinks(cfg, deliver.Options{})
	if err != nil {
		return err
	}
	var o notifier.Options
	var dlog *deliverylog.Writer
	if cfg.Delivery.LogToClickHouse {
		st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
		if err != nil {
			return err
		}
		defer b.Close()
		dlog = deliverylog.New(st, log.With("component", "delivery-log"), reg, 10000, 1000, time.Second)
		o.DeliveryLog = dlog
	}
	n, err := notifier.NewWithSinks(cfg, sinks, log, reg, o)
	if err != nil {
		return err
	}
	return service.Run(ctx, log, reg, cfg.Admin.Addr, n.Checks(), func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		if dlog != nil {
			g.Go(func() error { return dlog.Run(gctx) })
		}
		g.Go(func() error { return n.Run(gctx) })
		return g.Wait()
	})
}
