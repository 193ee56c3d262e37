package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/picket-dev/picket/cli/devstack/datadir"
	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/platform/config"
)

// devDataDir is `picket dev`'s default data directory (devstack's data_dir).
const devDataDir = "data"

const dataDirUsage = "run against the `picket dev` whose data directory is `dir`: the running one through its operations API, " +
	"or, stopped, by opening its data (builds with -tags embedded) (default: ./data when a `picket dev` used it and no " +
	"clickhouse.* or kafka.* setting, --config or PICKET_CLICKHOUSE__/PICKET_KAFKA__ variable names a server)"

// devTarget is a dev stack an operation runs against, found from its data
// directory.
type devTarget struct {
	dir   string
	state datadir.State
}

// findDev says which dev stack, if any, a command runs against: the one of
// --data-dir, or, when nothing names a ClickHouse or Kafka server, the one of
// `picket dev`'s default data directory if a dev stack used it (so `make run`
// and then `picket replay --from 1h` needs nothing more). nil means none:
// the command dials the servers of its configuration, as in production.
func findDev(flagDir string, src config.Source) (*devTarget, error) {
	dir := flagDir
	if dir == "" {
		if namesServers(src) {
			return nil, nil
		}
		dir = devDataDir
	}
	st, err := datadir.Inspect(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDataDir {
		if flagDir == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("--data-dir %s: not a `picket dev` data directory (it has no %s)", dir, datadir.LockFile)
	}
	return &devTarget{dir: dir, state: st}, nil
}

// namesServers reports whether the configuration says where ClickHouse or
// Kafka is.
func namesServers(src config.Source) bool {
	if src.File != "" {
		return true
	}
	for _, s := range src.Sets {
		if strings.HasPrefix(s, "clickhouse.") || strings.HasPrefix(s, "kafka.") {
			return true
		}
	}
	for _, e := range src.Environ {
		if strings.HasPrefix(e, "PICKET_CLICKHOUSE__") || strings.HasPrefix(e, "PICKET_KAFKA__") {
			return true
		}
	}
	return false
}

// run runs the operation what on the dev stack: on the running stack
// through its operations API (remote), or on a stopped one's data opened
// here (local; embedded builds only).
func (d *devTarget) run(ctx context.Context, what string, stderr io.Writer,
	remote func(ops.Client) error, local func(ops.Env) error) error {
	st := d.state
	if st.Running {
		if st.Info.OpsURL == "" || st.Info.PID != st.HolderPID {
			return fmt.Errorf("%s: data_dir %s is in use by %s, which serves no operations API: wait for it to end, or stop it", what, d.dir, st.Holder)
		}
		fmt.Fprintf(stderr, "picket %s: on the running `picket dev` in %s (pid %d)\n", what, d.dir, st.HolderPID)
		return remote(ops.Client{URL: st.Info.OpsURL, Token: st.Info.Token, Where: "the `picket dev` in " + d.dir})
	}
	env, closeEnv, err := openStopped(d.dir, "picket "+what)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(stderr, "picket %s: on the stopped `picket dev`'s data in %s\n", what, d.dir)
	err = local(env)
	return errors.Join(err, closeEnv())
}

// notify runs a notify operation on the running dev stack's notifier. A
// stopped stack has none: its destinations live in the running process.
func (d *devTarget) notify(ctx context.Context, what string, stderr io.Writer, remote func(ops.Client) error) error {
	if !d.state.Running {
		return fmt.Errorf("%s: the `picket dev` in %s is stopped, and its notifier with it: start it (make run) and run this "+
			"again, or give a notifier configuration with --config", what, d.dir)
	}
	return d.run(ctx, what, stderr, remote, nil)
}

// absPath is p made absolute, for a dev stack that reads or writes it from
// its own working directory.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// resolveFormat makes a log format of "auto" concrete for w: the lines are
// written by whoever runs the operation, maybe another process, to w.
func resolveFormat(format string, w io.Writer) string {
	if format != "" && format != "auto" {
		return format
	}
	if isTerminal(w) {
		return "text"
	}
	return "json"
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
