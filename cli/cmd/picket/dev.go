//go:build embedded

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/service"
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
	log := devstack.NewLogger(cfg.Log, stderr)
	s, err := devstack.Start(ctx, cfg, devstack.Options{Log: log})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	fmt.Fprint(stdout, devstack.Banner(cfg, s))
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
