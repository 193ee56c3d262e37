// Package service is the lifecycle every Picket binary shares: flags →
// configuration → admin server + the service's own loop, stopped together by
// a signal or by either failing.
package service

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/config"
)

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// Flags parses a service's command line: --config FILE and repeated
// --set key=value. The environment is read too (PICKET_…).
func Flags(name string, args []string, stderr io.Writer) (config.Source, error) {
	fs, source := FlagSet(name, stderr)
	if err := fs.Parse(args); err != nil {
		return config.Source{}, err
	}
	if fs.NArg() > 0 {
		return config.Source{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return source(), nil
}

// FlagSet returns a flag set with --config and --set, for commands that add
// flags of their own; source gives the configuration source after Parse.
func FlagSet(name string, stderr io.Writer) (fs *flag.FlagSet, source func() config.Source) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration `file`")
	sets := &setFlags{}
	fs.Var(sets, "set", "override one configuration `key=value` (repeatable)")
	return fs, func() config.Source { return config.Source{File: *file, Environ: os.Environ(), Sets: *sets} }
}

// Run serves the admin endpoints on adminAddr and runs loop, until ctx is done
// or either returns an error. ready are the readiness checks of /readyz.
func Run(ctx context.Context, log *slog.Logger, reg *prometheus.Registry, adminAddr string,
	ready map[string]admin.Check, loop func(context.Context) error) error {
	srv, err := admin.New(adminAddr, reg, log)
	if err != nil {
		return err
	}
	for name, c := range ready {
		srv.AddCheck(name, c)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return loop(gctx) })
	return g.Wait()
}

// Main is a service binary's main: it runs run with a context cancelled by
// SIGINT or SIGTERM and exits non-zero, naming the service, when run fails.
func Main(name string, run func(ctx context.Context, args []string, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
