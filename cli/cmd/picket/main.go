// Command picket is Picket's command-line tool.
//
//	picket dev       run the whole pipeline in one process (kfake + libchdb)
//	picket migrate   apply the ClickHouse migrations to a server
//
// It links libchdb for `dev`: run it through `make run`, which fetches the
// library and sets CHDB_LIB_PATH.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "picket:", err)
		os.Exit(1)
	}
}

const usage = `usage: picket <command> [flags]

commands:
  dev       run the whole pipeline in one process (embedded Kafka and ClickHouse)
  migrate   apply the ClickHouse migrations to a server

Each command takes --config FILE and --set key=value; run 'picket <command> -h'.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "dev":
		return dev(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	src, err := service.Flags("picket dev", args, stderr)
	if err != nil {
		return err
	}
	cfg := devstack.DefaultConfig()
	if err := config.Load(&cfg, devstack.DefaultConfig(), src); err != nil {
		return err
	}
	log := telemetry.NewLogger(cfg.Log, stderr)
	s, err := devstack.Start(ctx, cfg, devstack.Options{Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Picket is running (data in %s). Open:
  dashboard         %s/
  stats API         %s/api/v1/checks/reservations/stats?window=10m
  alert history     %s/api/v1/alerts
  metrics           %s/metrics
  demo target       %s/reservations
  webhooks received %s/
Kafka (kfake) listens on %s. Stop with Ctrl-C.
`, cfg.DataDir, s.QueryURL, s.QueryURL, s.QueryURL, s.AdminURL, s.TargetURL, s.ReceiverURL, s.KafkaAddr)
	select {
	case <-ctx.Done():
	case <-waitErr(s):
	}
	fmt.Fprintln(stdout, "stopping: flushing results and committing offsets")
	return s.Close()
}

func waitErr(s *devstack.Stack) <-chan error {
	c := make(chan error, 1)
	go func() { c <- s.Wait() }()
	return c
}

// migrateConfig is `picket migrate`'s configuration.
type migrateConfig struct {
	ClickHouse clickhouse.Config `koanf:"clickhouse"`
}

func (c migrateConfig) Validate() error { return c.ClickHouse.Validate() }

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	src, err := service.Flags("picket migrate", args, stderr)
	if err != nil {
		return err
	}
	def := migrateConfig{ClickHouse: clickhouse.DefaultConfig()}
	cfg := def
	if err := config.Load(&cfg, def, src); err != nil {
		return err
	}
	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer b.Close()
	applied, err := st.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(stdout, "up to date")
	}
	return err
}
