//go:build embedded

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
	"github.com/picket-dev/picket/platform/telemetry"
)

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
