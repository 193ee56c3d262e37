// Package ops holds the operations the picket CLI runs against a stack —
// migrate, replay and backtest — written once, against an Env: the CLI runs
// them against a production ClickHouse and Kafka, against a stopped dev
// stack's data directory (the embedded build), and a running `picket dev`
// runs them for the CLI through its operations API (Handler and Client), so
// progress, resume and the printed comparison are the same everywhere.
//
// It must never link libchdb or kfake (the production picket uses it), and
// its operations never notify anyone: replay and backtest rewrite or read
// history, they do not relive it.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/backtest"
	"github.com/picket-dev/picket/services/aggregator/replay"
	"github.com/picket-dev/picket/services/notifier"
)

// Env is what an operation runs against.
type Env struct {
	Store *store.Store
	// Kafka gives the options a replay's client starts from (brokers,
	// client id, a logger writing to log); ResultsTopic is the topic it reads.
	Kafka        func(log *slog.Logger) []kgo.Opt
	ResultsTopic string
	// Where names the stack for the user ("ClickHouse 127.0.0.1:9000", "the
	// `picket dev` in data").
	Where string
	// Notifier is the running notifier's configuration (its destinations),
	// for the notify operations; nil where no notifier runs.
	Notifier *notifier.Config
}

// Migrate applies the ClickHouse migrations and prints what it applied.
func Migrate(ctx context.Context, env Env, stdout io.Writer) error {
	applied, err := env.Store.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(stdout, "up to date")
	}
	return err
}

// ReplayRequest is a parsed `picket replay`.
type ReplayRequest struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Spec is the range as the user wrote it ("--from 24h"): what a resumed
	// replay must match.
	Spec      string `json:"spec"`
	Batch     int    `json:"batch"`
	StatePath string `json:"state_path"`
	// StateName is the state file as the user named it, for messages
	// (StatePath is absolute where the stack runs elsewhere); empty means
	// StatePath.
	StateName string `json:"state_name,omitempty"`
	Restart   bool   `json:"restart"`
	// Log is how replay's lines are written; Terminal says stderr is a
	// terminal (one status line redrawn in place, log lines above it).
	Log      telemetry.LogConfig `json:"log"`
	Terminal bool                `json:"terminal"`
}

// Replay re-reads req's range of the results topic into ClickHouse, with
// progress on stderr and the summary on stdout.
func Replay(ctx context.Context, env Env, req ReplayRequest, stdout, stderr io.Writer) error {
	var (
		logOut   io.Writer = stderr
		status   *replay.StatusLine
		logEvery = 10 * time.Second
	)
	if req.Terminal {
		status = replay.NewStatusLine(stderr)
		logOut, logEvery = status, 0
	}
	log := telemetry.NewLogger(req.Log, logOut).With("component", "replay")
	kafkaLog := telemetry.NewLogger(telemetry.LogConfig{Format: req.Log.Format, Level: "warn"}, logOut)

	// A server that does not answer is reported as what it is, before the
	// migrations would report it as theirs.
	if err := env.Store.Ping(ctx); err != nil {
		return fmt.Errorf("replay: %s does not answer: %w", env.Where, err)
	}
	if applied, err := env.Store.Migrate(ctx); err != nil {
		return fmt.Errorf("replay: preparing the tables of %s: %w", env.Where, err)
	} else if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}

	o := replay.DefaultOptions()
	o.Kafka = env.Kafka(kafkaLog)
	o.Topic = env.ResultsTopic
	o.From, o.To, o.Spec = req.From, req.To, req.Spec
	o.BatchMaxRecords = req.Batch
	o.StatePath = req.StatePath
	o.Restart = req.Restart
	o.Log = log
	name := req.StateName
	if name == "" {
		name = req.StatePath
	}
	o.LogEvery = logEvery
	if status != nil {
		o.Progress = status.Update
	}
	sum, err := replay.Run(ctx, env.Store, o)
	if status != nil {
		status.Close()
	}
	if errors.Is(err, replay.ErrOtherReplay) {
		return fmt.Errorf("replay: %w; rerun that replay to finish it, or pass --restart to discard it", err)
	}
	if sum.State.Topic == "" { // it did not start
		return err
	}
	PrintReplay(stdout, sum, name)
	if err != nil {
		return fmt.Errorf("%w (state in %s)", err, name)
	}
	return nil
}

// PrintReplay prints what a replay run did.
func PrintReplay(w io.Writer, sum replay.Summary, statePath string) {
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

// BacktestRequest is a parsed `picket backtest`. RulesFile is read where the
// backtest runs (an absolute path: the dev stack runs on the same machine).
type BacktestRequest struct {
	RulesFile string        `json:"rules_file"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Warmup    time.Duration `json:"warmup"`
	Checks    []string      `json:"checks,omitempty"`
}

// Backtest evaluates the candidate rules over stored history and prints the
// transitions they would have produced next to the ones emitted.
func Backtest(ctx context.Context, env Env, req BacktestRequest, stdout io.Writer) error {
	rules, err := LoadRules(req.RulesFile)
	if err != nil {
		return err
	}
	if err := env.Store.Ping(ctx); err != nil {
		return fmt.Errorf("backtest: %s does not answer: %w", env.Where, err)
	}
	rep, err := backtest.Run(ctx, env.Store, backtest.Options{
		Rules: rules, From: req.From, To: req.To, Warmup: req.Warmup, Checks: req.Checks,
	})
	if err != nil {
		return err
	}
	return rep.Print(stdout)
}

// rulesFile is a candidate rules file: an `alerting:` section, as in the
// aggregator's configuration.
type rulesFile struct {
	Alerting alert.Config `koanf:"alerting"`
}

func (r rulesFile) Validate() error {
	if len(r.Alerting.Rules) == 0 && len(r.Alerting.Checks) == 0 {
		return errors.New("alerting.rules: no rules to backtest")
	}
	return r.Alerting.Validate()
}

// LoadRules reads a candidate rules file; only what it says applies (no
// default rule is added).
func LoadRules(path string) (alert.Config, error) {
	d := alert.DefaultConfig() // its timings; its rules would be candidates nobody wrote
	def := rulesFile{Alerting: alert.Config{Lateness: d.Lateness, RestoreHorizon: d.RestoreHorizon, MaxPageAge: d.MaxPageAge, StaleAfter: d.StaleAfter}}
	rf := def
	if err := config.Load(&rf, def, config.Source{File: path}); err != nil {
		return alert.Config{}, fmt.Errorf("rules %s: %w", path, err)
	}
	return rf.Alerting, nil
}
