package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
)

// migrateConfig is `picket migrate`'s configuration.
type migrateConfig struct {
	ClickHouse clickhouse.Config `koanf:"clickhouse"`
}

func (c migrateConfig) Validate() error { return c.ClickHouse.Validate() }

// migrate applies the ClickHouse migrations: to the server of the
// configuration, or to a dev stack's tables (see findDev).
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, source := service.FlagSet("picket migrate", stderr)
	dataDir := fs.String("data-dir", "", dataDirUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", fs.Arg(0))
	}
	src := source()
	def := migrateConfig{ClickHouse: clickhouse.DefaultConfig()}
	cfg := def
	if err := config.Load(&cfg, def, src); err != nil {
		return err
	}
	dev, err := findDev(*dataDir, src)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if dev != nil {
		return dev.run(ctx, "migrate", stderr,
			func(c ops.Client) error { return c.Migrate(ctx, stdout, stderr) },
			func(env ops.Env) error { return ops.Migrate(ctx, env, stdout) })
	}
	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer b.Close()
	return ops.Migrate(ctx, ops.Env{Store: st, Where: "ClickHouse " + strings.Join(cfg.ClickHouse.Addr, ",")}, stdout)
}
