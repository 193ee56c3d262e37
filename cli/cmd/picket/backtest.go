package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/backtest"
)

// backtestConfig is `picket backtest`'s configuration (where history is).
type backtestConfig struct {
	ClickHouse clickhouse.Config `koanf:"clickhouse"`
}

func (c backtestConfig) Validate() error { return c.ClickHouse.Validate() }

// backtestFlags are the parsed flags of `picket backtest`.
type backtestFlags struct {
	rules   string
	dataDir string
	opts    backtest.Options
	sources func() config.Source
}

func parseBacktest(args []string, now time.Time, stderr io.Writer) (backtestFlags, error) {
	fs, source := service.FlagSet("picket backtest", stderr)
	rules := fs.String("rules", "", "candidate rules `file` (an alerting: section, as in the aggregator's config)")
	from := fs.String("from", "", "start of the period: RFC 3339 time, or a duration ago (24h)")
	to := fs.String("to", "now", "end of the period: RFC 3339 time, a duration ago, or now")
	warmup := fs.Duration("warmup", time.Hour, "history before --from the rules see first, so their windows are full")
	checks := fs.String("check", "", "comma-separated check ids (default: every check)")
	dataDir := fs.String("data-dir", "", dataDirUsage)
	if err := fs.Parse(args); err != nil {
		return backtestFlags{}, err
	}
	if fs.NArg() > 0 {
		return backtestFlags{}, fmt.Errorf("backtest: unexpected argument %q", fs.Arg(0))
	}
	if *rules == "" {
		return backtestFlags{}, errors.New("backtest: --rules rules.yaml is required")
	}
	if *from == "" {
		return backtestFlags{}, errors.New("backtest: --from is required")
	}
	f := backtestFlags{rules: *rules, dataDir: *dataDir, sources: source}
	var err error
	if f.opts.From, err = flagTime("from", *from, now); err != nil {
		return backtestFlags{}, err
	}
	if f.opts.To, err = flagTime("to", *to, now); err != nil {
		return backtestFlags{}, err
	}
	if !f.opts.To.After(f.opts.From) {
		return backtestFlags{}, fmt.Errorf("backtest: --to %s must be after --from %s",
			f.opts.To.Format(time.RFC3339), f.opts.From.Format(time.RFC3339))
	}
	if *warmup < 0 {
		return backtestFlags{}, fmt.Errorf("backtest: --warmup %s must not be negative", *warmup)
	}
	f.opts.Warmup = *warmup
	for c := range strings.SplitSeq(*checks, ",") {
		if c = strings.TrimSpace(c); c != "" {
			f.opts.Checks = append(f.opts.Checks, c)
		}
	}
	return f, nil
}

// loadRules reads a candidate rules file; only what it says applies (no
// default rule is added).
func loadRules(path string) (alert.Config, error) { return ops.LoadRules(path) }

// backtestCmd evaluates candidate rules over stored history and prints the
// transitions they would have produced next to the ones emitted.
func backtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseBacktest(args, time.Now(), stderr)
	if err != nil {
		return err
	}
	// The rules are read here first, so a mistake in them is reported
	// before any stack is contacted.
	if f.opts.Rules, err = loadRules(f.rules); err != nil {
		return err
	}
	def := backtestConfig{ClickHouse: clickhouse.DefaultConfig()}
	cfg := def
	src := f.sources()
	if err := config.Load(&cfg, def, src); err != nil {
		return err
	}
	req := ops.BacktestRequest{RulesFile: f.rules, From: f.opts.From, To: f.opts.To, Warmup: f.opts.Warmup, Checks: f.opts.Checks}
	dev, err := findDev(f.dataDir, src)
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if dev != nil {
		remote := req
		remote.RulesFile = absPath(f.rules)
		return dev.run(ctx, "backtest", stderr,
			func(c ops.Client) error { return c.Backtest(ctx, remote, stdout, stderr) },
			func(env ops.Env) error { return ops.Backtest(ctx, env, req, stdout) })
	}
	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	defer b.Close()
	return ops.Backtest(ctx, ops.Env{Store: st, Where: "ClickHouse " + strings.Join(cfg.ClickHouse.Addr, ",")}, req, stdout)
}

// flagTime parses a time flag: RFC 3339, a duration meaning that long
// before now, or "now".
func flagTime(name, v string, now time.Time) (time.Time, error) {
	if v == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-11-22T10:00:00Z), a duration ago (24h) or now", name, v)
}
