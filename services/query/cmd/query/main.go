// Command query serves the HTTP query API and dashboard from ClickHouse.
package main

import (
	"context"
	"io"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/query"
)

func main() { service.Main("query", run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	src, err := service.Flags("query", args, stderr)
	if err != nil {
		return err
	}
	cfg := query.DefaultConfig()
	if err := config.Load(&cfg, query.DefaultConfig(), src); err != nil {
		return err
	}
	log := telemetry.NewLogger(cfg.Log, stderr).With("service", "query")
	reg := telemetry.NewRegistry()
	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer b.Close()
	defs := query.NewCheckDefinitions(cfg.Kafka, log)
	srv, err := query.Listen(cfg.Addr, st, log, query.RequestTimeout(cfg.RequestTimeout),
		query.Access(cfg.Access(), ""), query.Metrics(reg), query.WithDefinitions(defs), query.SLOs(cfg.SLOs),
		query.StatusPages(cfg.StatusPages))
	if err != nil {
		return err
	}
	return service.Run(ctx, log, reg, cfg.Admin.Addr, map[string]admin.Check{"clickhouse": st.Ping}, func(ctx context.Context) error {
		ctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); defs.Run(ctx) }()
		defer func() { stop(); <-done }()
		return srv.Run(ctx)
	})
}
