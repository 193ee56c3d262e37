package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/prober/check"
)

// applyConfig is `picket apply`'s configuration.
type applyConfig struct {
	Kafka kafka.Config `koanf:"kafka"`
}

func (c applyConfig) Validate() error { return c.Kafka.Validate() }

// apply publishes a checks file as check definitions (config as code): the
// probers of every location pick the changes up without restarting.
func apply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, source := service.FlagSet("picket apply", stderr)
	file := fs.String("f", "", "checks `file` to apply")
	prune := fs.Bool("prune", false, "delete published checks that are not in the file")
	dryRun := fs.Bool("dry-run", false, "print the plan without publishing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("apply: -f checks.yaml is required")
	}
	checks, err := check.LoadDefinitions(*file)
	if err != nil {
		return err
	}
	def := applyConfig{Kafka: kafka.DefaultConfig()}
	cfg := def
	if err := config.Load(&cfg, def, source()); err != nil {
		return err
	}
	log := telemetry.NewLogger(telemetry.LogConfig{Format: "text", Level: "warn"}, stderr)
	cl, err := kgo.NewClient(cfg.Kafka.ClientOptions(log)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, cfg.Kafka.ChecksTopic); err != nil {
		return err
	}
	plan, err := prober.Apply(ctx, cl, cfg.Kafka.ChecksTopic, checks, *prune, *dryRun)
	if err != nil {
		return err
	}
	verb := "applied"
	if *dryRun {
		verb = "would apply (dry run)"
	}
	fmt.Fprintf(stdout, "%s to %s: %d created, %d updated, %d deleted, %d unchanged\n", verb, cfg.Kafka.ChecksTopic,
		len(plan.Created), len(plan.Updated), len(plan.Deleted), len(plan.Unchanged))
	for _, l := range []struct {
		sign string
		ids  []string
	}{{"+", plan.Created}, {"~", plan.Updated}, {"-", plan.Deleted}} {
		if len(l.ids) > 0 {
			fmt.Fprintf(stdout, "  %s %s\n", l.sign, strings.Join(l.ids, ", "))
		}
	}
	return nil
}
