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
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
)

// replayConfig is `picket replay`'s configuration: where the results are and
// where they go, as the aggregator has them.
type replayConfig struct {
	Kafka      kafka.Config        `koanf:"kafka"`
	ClickHouse clickhouse.Config   `koanf:"clickhouse"`
	Log        telemetry.LogConfig `koanf:"log"`
}

func (c replayConfig) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

const replayUsage = `usage: picket replay --from T [--to T] [--state FILE] [--restart] [--batch N] [--data-dir DIR] [--config FILE] [--set key=value]

Re-reads the results topic for a time range (by record timestamp, the results' scheduled
time) and rewrites ClickHouse for it: raw rows, then the minute, hour and day rollups they
touch, as live ingestion does; both are idempotent. It uses no consumer group, emits no
alert event and notifies no one. T is an RFC 3339 time (2026-11-21T00:00:00Z) or a duration
ago (24h) or, for --to, now; without --to it runs to the end of the topic as of its start.
Progress is checkpointed in the state file after every batch: interrupt it at any time and
run the same command again to resume. With a ` + "`picket dev`" + ` (make run) it replays into the dev
stack of ./data or --data-dir: the running one does it for this command (progress shows here),
and a stopped one's data is opened by the embedded build (-tags embedded).`

// replayCmd is `picket replay`.
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, source := service.FlagSet("picket replay", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), replayUsage)
		fs.PrintDefaults()
	}
	fromFlag := fs.String("from", "", "replay results from `T`: an RFC 3339 time or a duration ago (required)")
	toFlag := fs.String("to", "", "replay results up to, not including, `T`: an RFC 3339 time, a duration ago or now (default: the end of the topic as of the start)")
	statePath := fs.String("state", "picket-replay.json", "checkpoint `file`: rerunning the same replay resumes from it")
	restart := fs.Bool("restart", false, "discard the state file's replay and start over")
	batch := fs.Int("batch", 10000, "records per ClickHouse insert")
	dataDir := fs.String("data-dir", "", dataDirUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay: unexpected argument %q", fs.Arg(0))
	}
	if *fromFlag == "" {
		return errors.New("replay: --from is required: an RFC 3339 time (2026-11-22T10:00:00Z) or a duration ago (24h)")
	}
	now := time.Now()
	from, fromSpec, err := timeFlag("from", *fromFlag, now)
	if err != nil {
		return err
	}
	var (
		to     time.Time
		toSpec string
	)
	if *toFlag != "" {
		if to, toSpec, err = timeFlag("to", *toFlag, now); err != nil {
			return err
		}
	}
	spec := "--from " + fromSpec
	switch {
	case from.After(now):
		return fmt.Errorf("replay: --from %s is in the future", fromSpec)
	case !to.IsZero() && !to.After(from):
		return fmt.Errorf("replay: --to %s must be after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	case *batch < 1:
		return fmt.Errorf("replay: --batch %d must be at least 1", *batch)
	case *statePath == "":
		return errors.New("replay: --state must not be empty: the checkpoint is what makes a replay resumable")
	}
	if !to.IsZero() {
		spec += " --to " + toSpec
	}
	def := replayConfig{Kafka: kafka.DefaultConfig(), ClickHouse: clickhouse.DefaultConfig(), Log: telemetry.DefaultLog()}
	cfg := def
	src := source()
	if err := config.Load(&cfg, def, src); err != nil {
		return err
	}
	req := ops.ReplayRequest{
		From: from, To: to, Spec: spec, Batch: *batch, StatePath: *statePath, Restart: *restart,
		Log: cfg.Log, Terminal: isTerminal(stderr),
	}
	req.Log.Format = resolveFormat(req.Log.Format, stderr)
	dev, err := findDev(*dataDir, src)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if dev != nil {
		remote := req
		remote.StatePath, remote.StateName = absPath(*statePath), *statePath
		return dev.run(ctx, "replay", stderr,
			func(c ops.Client) error {
				err := c.Replay(ctx, remote, stdout, stderr)
				if ctx.Err() != nil {
					return fmt.Errorf("%w; the dev stack keeps the checkpoint of the last durable batch in %s: run the same command again to resume", err, *statePath)
				}
				return err
			},
			func(env ops.Env) error { return ops.Replay(ctx, env, req, stdout, stderr) })
	}
	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer b.Close()
	env := ops.Env{
		Store: st, Kafka: cfg.Kafka.ClientOptions, ResultsTopic: cfg.Kafka.ResultsTopic,
		Where: fmt.Sprintf("ClickHouse %s", strings.Join(cfg.ClickHouse.Addr, ",")),
	}
	return ops.Replay(ctx, env, req, stdout, stderr)
}

// timeFlag parses a time flag as backtest does (flagTime) and returns its
// canonical spelling too (UTC for a time, the value as given for a duration
// before now), which is what a resumed replay must match.
func timeFlag(name, v string, now time.Time) (time.Time, string, error) {
	t, err := flagTime(name, v, now)
	if err != nil {
		return time.Time{}, "", err
	}
	if abs, err := time.Parse(time.RFC3339, v); err == nil {
		return abs.UTC(), abs.UTC().Format(time.RFC3339Nano), nil
	}
	return t.UTC(), v, nil
}
