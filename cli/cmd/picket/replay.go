package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/aggregator/replay"
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

const replayUsage = `usage: picket replay --from T [--to T] [--state FILE] [--restart] [--batch N] [--config FILE] [--set key=value]

Re-reads the results topic for a time range (by record timestamp, the results' scheduled
time) and rewrites ClickHouse for it: raw rows, then the minute, hour and day rollups they
touch, as live ingestion does; both are idempotent. It uses no consumer group, emits no
alert event and notifies no one. T is an RFC 3339 time (2026-11-21T00:00:00Z) or a duration
ago (24h) or, for --to, now; without --to it runs to the end of the topic as of its start.
Progress is checkpointed in the state file after every batch: interrupt it at any time and
run the same command again to resume.`

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
	if err := config.Load(&cfg, def, source()); err != nil {
		return err
	}

	// On a terminal, one status line redrawn in place, log lines above it;
	// elsewhere, plain log lines.
	var (
		logOut   io.Writer = stderr
		status   *replay.StatusLine
		logEvery = 10 * time.Second
	)
	if isTerminal(stderr) {
		status = replay.NewStatusLine(stderr)
		logOut, logEvery = status, 0
	}
	log := telemetry.NewLogger(cfg.Log, logOut).With("component", "replay")
	kafkaLog := telemetry.NewLogger(telemetry.LogConfig{Format: cfg.Log.Format, Level: "warn"}, logOut)

	st, b, err := clickhouse.OpenStore(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer b.Close()
	if applied, err := st.Migrate(ctx); err != nil {
		return err
	} else if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}

	o := replay.DefaultOptions()
	o.Kafka = cfg.Kafka.ClientOptions(kafkaLog)
	o.Topic = cfg.Kafka.ResultsTopic
	o.From, o.To, o.Spec = from, to, spec
	o.BatchMaxRecords = *batch
	o.StatePath = *statePath
	o.Restart = *restart
	o.Log = log
	o.LogEvery = logEvery
	if status != nil {
		o.Progress = status.Update
	}
	sum, err := replay.Run(ctx, st, o)
	if status != nil {
		status.Close()
	}
	if errors.Is(err, replay.ErrOtherReplay) {
		return fmt.Errorf("replay: %w; rerun that replay to finish it, or pass --restart to discard it", err)
	}
	if sum.State.Topic == "" { // it did not start
		return err
	}
	printReplay(stdout, sum, *statePath)
	if err != nil {
		return fmt.Errorf("%w (state in %s)", err, *statePath)
	}
	return nil
}

// printReplay prints what a replay run did.
func printReplay(w io.Writer, sum replay.Summary, statePath string) {
	s := sum.State
	if sum.AlreadyFinished {
		fmt.Fprintf(w, "replay %s of %s into %s already finished at %s (%d records, state in %s); --restart replays it again\n",
			s.Spec, s.Topic, s.Database, s.FinishedAt.Format(time.RFC3339), s.Records, statePath)
		return
	}
	verb := "replayed"
	if sum.Resumed {
		verb = "resumed: replayed"
	}
	to := "the end of the topic as of its start"
	if !s.To.IsZero() {
		to = s.To.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s %d records of %s from %s to %s into %s in %s: %d written, %d skipped as undecodable, %.0f records/s\n",
		verb, sum.Records, s.Topic, s.From.Format(time.RFC3339), to, s.Database, sum.Duration.Round(time.Millisecond),
		sum.Decoded, sum.Skipped, sum.Rate())
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

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
