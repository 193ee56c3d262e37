// Package devstack runs the whole pipeline in one process: franz-go's kfake
// as the Kafka broker, libchdb as ClickHouse, the four services, and the demo
// target and webhook receiver. It is what `picket dev` and the embedded
// end-to-end tests run; production runs each service on its own.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/picket-dev/picket/cli/demo"
	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/services/aggregator"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"
)

// Config is `picket dev`'s configuration.
type Config struct {
	// DataDir holds Kafka's log and ClickHouse's tables across restarts.
	DataDir   string `koanf:"data_dir"`
	KafkaAddr string `koanf:"kafka_addr"`
	QueryAddr string `koanf:"query_addr"`
	AdminAddr string `koanf:"admin_addr"`
	Database  string `koanf:"database"`
	Location  string `koanf:"location"`
	// ChecksFile, when set, replaces the demo check.
	ChecksFile string                   `koanf:"checks_file"`
	Demo       DemoConfig               `koanf:"demo"`
	Alerting   alert.Config             `koanf:"alerting"`
	Webhooks   []notifier.WebhookConfig `koanf:"webhooks"`
	Log        telemetry.LogConfig      `koanf:"log"`
}

// DemoConfig places the demo target and webhook receiver.
type DemoConfig struct {
	Enabled      bool          `koanf:"enabled"`
	TargetAddr   string        `koanf:"target_addr"`
	ReceiverAddr string        `koanf:"receiver_addr"`
	Interval     time.Duration `koanf:"interval"`
}

// DefaultConfig is what `picket dev` runs with no configuration.
func DefaultConfig() Config {
	return Config{
		DataDir:   "data",
		KafkaAddr: "127.0.0.1:9092",
		QueryAddr: "127.0.0.1:8080",
		AdminAddr: "127.0.0.1:9100",
		Database:  "picket",
		Location:  "local",
		Demo: DemoConfig{
			Enabled: true, TargetAddr: "127.0.0.1:8081", ReceiverAddr: "127.0.0.1:8082", Interval: 5 * time.Second,
		},
		Alerting: alert.DefaultConfig(),
		Log:      telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	for key, addr := range map[string]string{"kafka_addr": c.KafkaAddr, "query_addr": c.QueryAddr, "admin_addr": c.AdminAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %q: %v", key, addr, err)
		}
	}
	if err := store.ValidDatabase(c.Database); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if c.Demo.Enabled && c.Demo.Interval < 10*time.Millisecond {
		return fmt.Errorf("demo.interval: %s is below the minimum of 10ms", c.Demo.Interval)
	}
	if !c.Demo.Enabled && c.ChecksFile == "" {
		return errors.New("checks_file: required when demo.enabled is false")
	}
	if err := c.Alerting.Validate(); err != nil {
		return err
	}
	// The notifier's own validation covers the webhooks.
	nc := notifier.DefaultConfig()
	nc.Webhooks = c.Webhooks
	if err := nc.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Options are what a program (rather than a user) adds to Config.
type Options struct {
	// Checks, when set, are run instead of the demo check or ChecksFile.
	Checks []check.Check
	// Backend, when set, is used instead of opening DataDir/clickhouse
	// (libchdb allows one data directory per process; tests share one).
	Backend store.Backend
	// KafkaBrokers, when set, is an existing Kafka cluster to use instead of
	// starting kfake (the testcontainers suites pass a real broker).
	KafkaBrokers []string
	Log          *slog.Logger
	// Registry collects every service's metrics; nil makes a new one.
	Registry *prometheus.Registry
}

// Stack is a running pipeline.
type Stack struct {
	// Addresses of what runs, for printing and for tests.
	KafkaAddr, QueryURL, AdminURL, TargetURL, ReceiverURL string
	// Receiver is the demo webhook receiver, nil when the demo is off.
	Receiver *demo.Receiver

	log         *slog.Logger
	cluster     *kfake.Cluster
	backend     store.Backend
	ownsBackend bool
	cancel      context.CancelFunc
	g           *errgroup.Group
	stopProber  context.CancelFunc
	proberDone  chan struct{} // closed when the prober returned
	proberErr   error
	closeOnce   sync.Once
	closeErr    error
}

// Start brings the stack up and returns once every part is listening.
func Start(ctx context.Context, cfg Config, opts Options) (s *Stack, err error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reg := opts.Registry
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	s = &Stack{log: log, proberDone: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	brokers := opts.KafkaBrokers
	if len(brokers) == 0 {
		// Kafka: kfake, persisted under the data directory.
		kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(filepath.Join(cfg.DataDir, "kafka"))}
		if _, port, _ := net.SplitHostPort(cfg.KafkaAddr); port != "0" {
			p, err := strconv.Atoi(port)
			if err != nil {
				return nil, fmt.Errorf("kafka_addr %q: %w", cfg.KafkaAddr, err)
			}
			kopts = append(kopts, kfake.Ports(p))
		}
		if s.cluster, err = kfake.NewCluster(kopts...); err != nil {
			return nil, fmt.Errorf("start kafka (kfake) on %s: %w", cfg.KafkaAddr, err)
		}
		brokers = s.cluster.ListenAddrs()
	}
	s.KafkaAddr = brokers[0]

	// ClickHouse: libchdb in process.
	s.backend = opts.Backend
	if s.backend == nil {
		b, err := embedded.Open(filepath.Join(cfg.DataDir, "clickhouse"), 4)
		if err != nil {
			return nil, err
		}
		s.backend, s.ownsBackend = b, true
	}
	st, err := store.New(s.backend, cfg.Database)
	if err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	g, gctx := errgroup.WithContext(runCtx)
	s.g = g

	serve := func(addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			go func() {
				<-gctx.Done()
				sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
				defer c()
				srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		return "http://" + ln.Addr().String(), nil
	}

	checks := opts.Checks
	webhooks := append([]notifier.WebhookConfig(nil), cfg.Webhooks...)
	if cfg.Demo.Enabled {
		if s.TargetURL, err = serve(cfg.Demo.TargetAddr, demo.NewTarget(log.With("component", "demo-target"))); err != nil {
			return nil, fmt.Errorf("demo target: %w", err)
		}
		s.Receiver = demo.NewReceiver(log.With("component", "demo-webhook"))
		if s.ReceiverURL, err = serve(cfg.Demo.ReceiverAddr, s.Receiver); err != nil {
			return nil, fmt.Errorf("demo webhook receiver: %w", err)
		}
		webhooks = append(webhooks, notifier.WebhookConfig{Name: "demo", URL: s.ReceiverURL + "/hook", Timeout: 5 * time.Second})
		if checks == nil && cfg.ChecksFile == "" {
			checks = []check.Check{DemoCheck(s.TargetURL, cfg.Demo.Interval)}
		}
	}
	if checks == nil {
		if checks, err = check.Load(cfg.ChecksFile); err != nil {
			return nil, err
		}
	}

	kc := kafka.DefaultConfig()
	kc.Brokers = brokers
	kc.Partitions = 3

	pc := prober.DefaultConfig()
	pc.Kafka, pc.Location = kc, cfg.Location
	pc.Outbox.Dir = filepath.Join(cfg.DataDir, "prober-spool")
	p, err := prober.NewWithChecks(pc, checks, log.With("service", "prober"), reg)
	if err != nil {
		return nil, err
	}
	ac := aggregator.DefaultConfig()
	ac.Kafka, ac.Alerting = kc, cfg.Alerting
	a, err := aggregator.New(ac, st, log.With("service", "aggregator"), reg)
	if err != nil {
		return nil, err
	}
	nc := notifier.DefaultConfig()
	nc.Kafka, nc.Webhooks = kc, webhooks
	n, err := notifier.New(nc, log.With("service", "notifier"), reg)
	if err != nil {
		return nil, err
	}
	q, err := query.Listen(cfg.QueryAddr, st, log.With("service", "query"))
	if err != nil {
		return nil, err
	}
	s.QueryURL = "http://" + q.Addr()
	adm, err := admin.New(cfg.AdminAddr, reg, log.With("component", "admin"))
	if err != nil {
		return nil, err
	}
	adm.AddCheck("prober", p.Ready)
	adm.AddCheck("aggregator", a.Ready)
	adm.AddCheck("notifier", n.Ready)
	s.AdminURL = "http://" + adm.Addr()

	proberCtx, stopProber := context.WithCancel(gctx)
	s.stopProber = stopProber
	g.Go(func() error {
		defer close(s.proberDone)
		s.proberErr = p.Run(proberCtx)
		return s.proberErr
	})
	g.Go(func() error { return a.Run(gctx) })
	g.Go(func() error { return n.Run(gctx) })
	g.Go(func() error { return q.Run(gctx) })
	g.Go(func() error { return adm.Run(gctx) })
	return s, nil
}

// DemoCheck is the check `picket dev` runs against the demo target.
func DemoCheck(targetURL string, interval time.Duration) check.Check {
	return check.Check{
		ID: "reservations", Name: "Reservations API", Interval: interval, Timeout: min(interval*4/5, 10*time.Second),
		HTTP: &check.HTTP{
			Method: "POST", URL: targetURL + "/reservations",
			Headers:        map[string]string{"Content-Type": "application/json"},
			Body:           `{"guest":"synthetic-monitor","nights":1}`,
			ExpectedStatus: []int{200},
		},
	}
}

// StopProber stops scheduling checks, waits for the runs in progress and
// flushes their results to Kafka. The rest of the stack keeps running.
func (s *Stack) StopProber() error {
	s.stopProber()
	<-s.proberDone
	return s.proberErr
}

// Wait blocks until a part of the stack fails or the stack is closed.
func (s *Stack) Wait() error { return s.g.Wait() }

// Close stops everything: the prober first (its results are flushed), then
// the consumers and servers, then Kafka and ClickHouse.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.stopProber != nil {
			errs = append(errs, s.StopProber())
		}
		if s.cancel != nil {
			s.cancel()
			errs = append(errs, s.g.Wait())
		}
		if s.cluster != nil {
			s.cluster.Close()
		}
		if s.ownsBackend && s.backend != nil {
			errs = append(errs, s.backend.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
