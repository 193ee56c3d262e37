package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/prober/check"
)

// startEmbedded runs the pipeline on kfake and libchdb, in a fresh database.
func startEmbedded(t *testing.T, cfg devstack.Config, checks []check.Check) Pipeline {
	t.Helper()
	return startEmbeddedWith(t, cfg, devstack.Options{Checks: checks, Backend: embeddedtest.Backend(t)})
}

// startEmbeddedWith is startEmbedded with the options a fault test changes
// (a ClickHouse backend that refuses writes, a broker it stops).
func startEmbeddedWith(t *testing.T, cfg devstack.Config, opts devstack.Options) stackPipeline {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr, cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Database = embeddedtest.Database(t)
	if opts.Log == nil {
		opts.Log = testLogger()
	}
	s, err := devstack.Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("start embedded stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return stackPipeline{s, cfg.DataDir}
}

// testLogWriter is where the stack's lines go: nowhere unless
// PICKET_TEST_LOG is set (the logger's level decides otherwise).
func testLogWriter() io.Writer {
	if os.Getenv("PICKET_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("PICKET_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func TestEmbeddedOutageAndRecovery(t *testing.T) { outageAndRecovery(t, startEmbedded) }
