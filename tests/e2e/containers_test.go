package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcclickhouse "github.com/testcontainers/testcontainers-go/modules/clickhouse"
	"github.com/testcontainers/testcontainers-go/modules/redpanda"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/services/prober/check"
)

// Images of the production dependencies the container suites run against.
// clickhouse-go supports servers from 25.8 on.
const (
	clickhouseImage = "clickhouse/clickhouse-server:25.8"
	redpandaImage   = "redpandadata/redpanda:v24.3.6"
)

var (
	dockerOnce   sync.Once
	dockerReason string
	// containersSkipped counts the scenarios skipped for want of Docker;
	// TestMain says so even without -v.
	containersSkipped atomic.Int64
)

// dockerUnavailable says why no Docker engine can run the containers ("" if
// one answers), asking once per test binary.
func dockerUnavailable() string {
	dockerOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				dockerReason = fmt.Sprintf("no Docker engine: %v", r)
			}
		}()
		provider, err := testcontainers.ProviderDocker.GetProvider()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = provider.Health(ctx)
		}
		if err != nil {
			dockerReason = "no Docker engine answers (the containers environment needs one): " + err.Error()
		}
	})
	return dockerReason
}

// startContainers runs the same pipeline against a real Kafka-protocol
// broker (Redpanda) and a real ClickHouse server through clickhouse-go. It
// skips, saying why, where no Docker engine answers.
func startContainers(t *testing.T, cfg devstack.Config, checks []check.Check) Pipeline {
	t.Helper()
	if reason := dockerUnavailable(); reason != "" {
		containersSkipped.Add(1)
		t.Skip(reason)
	}
	ctx := context.Background()

	rp, err := redpanda.Run(ctx, redpandaImage, redpanda.WithAutoCreateTopics())
	testcontainers.CleanupContainer(t, rp)
	if err != nil {
		t.Fatalf("start redpanda: %v", err)
	}
	broker, err := rp.KafkaSeedBroker(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ch, err := tcclickhouse.Run(ctx, clickhouseImage, tcclickhouse.WithUsername("picket"), tcclickhouse.WithPassword("picket"))
	testcontainers.CleanupContainer(t, ch)
	if err != nil {
		t.Fatalf("start clickhouse: %v", err)
	}
	host, err := ch.ConnectionHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chCfg := clickhouse.DefaultConfig()
	chCfg.Addr, chCfg.Username, chCfg.Password = []string{host}, "picket", "picket"
	b, err := clickhouse.Open(chCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	cfg.DataDir = t.TempDir()
	cfg.QueryAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	s, err := devstack.Start(ctx, cfg, devstack.Options{
		Checks: checks, Backend: b, KafkaBrokers: []string{broker}, Log: testLogger(),
	})
	if err != nil {
		t.Fatalf("start pipeline on containers: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return stackPipeline{s, cfg.DataDir}
}

func TestContainersOutageAndRecovery(t *testing.T) { outageAndRecovery(t, startContainers) }
