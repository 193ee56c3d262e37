// Command picket is Picket's command-line tool.
//
//	picket dev       run the whole pipeline in one process (kfake + libchdb)
//	picket apply     publish check definitions for the probers' fleets
//	picket migrate   apply the ClickHouse migrations
//	picket replay    re-read a time range of results into ClickHouse
//	picket backtest  evaluate candidate alert rules over stored history
//	picket status    the console dashboard, from the query API
//	picket slos      the SLOs: achieved, error budget and burn rates
//
// `dev` exists only in builds with -tags embedded (`make run`): it links
// libchdb, whose package init panics without the library, and the production
// build must run without it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
  apply     publish check definitions (-f checks.yaml [--prune] [--dry-run])
  migrate   apply the ClickHouse migrations (to a server, or a picket dev stack)
  replay    re-read a time range of results into ClickHouse (--from T [--to T]), resumable
  backtest  evaluate candidate alert rules over history (--rules rules.yaml --from T [--to T2])
  status    the console dashboard: every check's figures and the alerts, from the query API
  slos      the SLOs: objective, window, achieved, error budget remaining and burn rates, from the query API
  notify    re-send parked notifications (redrive --destination D --from T [--to T2]), or send a test one (test D)

Each command takes --config FILE and --set key=value; run 'picket <command> -h'.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		// -h or --help: the flag set has printed the command's usage; asking
		// for help is not a failure.
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "dev":
		return dev(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "apply":
		return apply(ctx, args[1:], stdout, stderr)
	case "replay":
		return replayCmd(ctx, args[1:], stdout, stderr)
	case "backtest":
		return backtestCmd(ctx, args[1:], stdout, stderr)
	case "notify":
		return notifyCmd(ctx, args[1:], stdout, stderr)
	case "status":
		return statusCmd(ctx, args[1:], stdout, stderr)
	case "slos":
		return slosCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
