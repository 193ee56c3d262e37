package prober

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/telemetry"
)

// Config is the prober's configuration.
type Config struct {
	Kafka kafka.Config `koanf:"kafka"`
	// Location labels every result this prober emits.
	Location string `koanf:"location"`
	// Source of the checks: "file" (ChecksFile, reloaded on change) or
	// "kafka" (the definitions topic, shared by the location's fleet).
	Source string `koanf:"source"`
	// ChecksFile is the YAML file of checks to run.
	ChecksFile string `koanf:"checks_file"`
	// Fleet configures the kafka source.
	Fleet FleetConfig `koanf:"fleet"`
	// Outbox queues results between the probes and Kafka.
	Outbox OutboxConfig `koanf:"outbox"`
	// ReloadInterval is how often the checks file is looked at for changes.
	ReloadInterval time.Duration `koanf:"reload_interval"`
	// FlushTimeout bounds how long shutdown waits for Kafka to take the
	// results still buffered.
	FlushTimeout time.Duration `koanf:"flush_timeout"`
	// ShutdownGrace bounds how long shutdown waits for the runs in progress:
	// confirmation retries stop at once, and an attempt still running after
	// the grace is cut (reported as not run, never as the target's failure).
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`
	// MaxConcurrency bounds the runs in flight; 0 means
	// DefaultRunsPerCPU × GOMAXPROCS.
	MaxConcurrency int `koanf:"max_concurrency"`
	// MaxStartDelay is how late after its tick a run may start: a run that
	// cannot start within it (the prober is behind, or every slot is busy) is
	// reported as skipped for overload instead of being run late or timing out.
	MaxStartDelay time.Duration       `koanf:"max_start_delay"`
	Admin         admin.Config        `koanf:"admin"`
	Log           telemetry.LogConfig `koanf:"log"`
}

// FleetConfig configures how a location's probers share its checks.
type FleetConfig struct {
	// GroupPrefix + "-" + location is the consumer group of the location.
	GroupPrefix string `koanf:"group_prefix"`
	// SessionTimeout is how soon a dead prober's checks move to the others.
	SessionTimeout time.Duration `koanf:"session_timeout"`
	// RebalanceTimeout bounds a rebalance, also one a prober dies during.
	RebalanceTimeout time.Duration `koanf:"rebalance_timeout"`
}

// OutboxConfig sizes the queue that keeps results while Kafka is unreachable.
type OutboxConfig struct {
	// Dir holds the spool files.
	Dir string `koanf:"dir"`
	// MemoryRecords are queued in memory before spilling to disk.
	MemoryRecords int `koanf:"memory_records"`
	// MaxSpoolBytes caps the spool; beyond it the oldest results are dropped (counted).
	MaxSpoolBytes int64 `koanf:"max_spool_bytes"`
	// SendTimeout bounds one wait for Kafka to acknowledge a batch; then the
	// outbox backs off and waits again (the batch stays with the client, it
	// is not produced twice), and /readyz reports a head stuck longer.
	SendTimeout time.Duration `koanf:"send_timeout"`
}

// DefaultConfig is the prober's default configuration.
func DefaultConfig() Config {
	return Config{
		Kafka:          kafka.DefaultConfig(),
		Location:       "local",
		Source:         "file",
		ChecksFile:     "checks.yaml",
		Fleet:          FleetConfig{GroupPrefix: "picket-prober", SessionTimeout: 10 * time.Second, RebalanceTimeout: 15 * time.Second},
		FlushTimeout:   10 * time.Second,
		ShutdownGrace:  10 * time.Second,
		MaxStartDelay:  time.Second,
		ReloadInterval: 5 * time.Second,
		Outbox: OutboxConfig{
			Dir: "spool", MemoryRecords: 10000, MaxSpoolBytes: 256 << 20, SendTimeout: 10 * time.Second,
		},
		Admin: admin.Config{Addr: ":9101"},
		Log:   telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(c.Location) == "":
		return errors.New("location: must not be empty")
	case c.Source != "file" && c.Source != "kafka":
		return fmt.Errorf("source: %q is not file or kafka", c.Source)
	case c.Source == "file" && c.ChecksFile == "":
		return errors.New("checks_file: must not be empty")
	case c.Source == "kafka" && c.Fleet.GroupPrefix == "":
		return errors.New("fleet.group_prefix: must not be empty")
	case c.Source == "kafka" && c.Fleet.SessionTimeout < time.Second:
		return fmt.Errorf("fleet.session_timeout: %s is below 1s", c.Fleet.SessionTimeout)
	case c.Source == "kafka" && c.Fleet.RebalanceTimeout < time.Second:
		return fmt.Errorf("fleet.rebalance_timeout: %s is below 1s", c.Fleet.RebalanceTimeout)
	case c.FlushTimeout <= 0:
		return fmt.Errorf("flush_timeout: %s must be positive", c.FlushTimeout)
	case c.ShutdownGrace <= 0:
		return fmt.Errorf("shutdown_grace: %s must be positive", c.ShutdownGrace)
	case c.MaxConcurrency < 0:
		return fmt.Errorf("max_concurrency: %d must be at least 1 (or 0 for %d per CPU)", c.MaxConcurrency, DefaultRunsPerCPU)
	case c.MaxStartDelay <= 0:
		return fmt.Errorf("max_start_delay: %s must be positive", c.MaxStartDelay)
	case c.ReloadInterval <= 0:
		return fmt.Errorf("reload_interval: %s must be positive", c.ReloadInterval)
	case c.Outbox.Dir == "":
		return errors.New("outbox.dir: must not be empty")
	case c.Outbox.MemoryRecords < 1:
		return fmt.Errorf("outbox.memory_records: %d must be at least 1", c.Outbox.MemoryRecords)
	case c.Outbox.MaxSpoolBytes < spoolSegmentBytes:
		return fmt.Errorf("outbox.max_spool_bytes: %d must be at least %d", c.Outbox.MaxSpoolBytes, spoolSegmentBytes)
	case c.Outbox.SendTimeout <= 0:
		return fmt.Errorf("outbox.send_timeout: %s must be positive", c.Outbox.SendTimeout)
	}
	return c.Log.Validate()
}

// spoolSegmentBytes is the size of one spool file.
const spoolSegmentBytes = 1 << 20

// DefaultRunsPerCPU sizes the default max_concurrency. A run mostly waits on
// the network, so a CPU keeps many in flight; far more than this and the
// runs start competing for CPU, and their timings (then their timeouts)
// measure the prober instead of the target.
const DefaultRunsPerCPU = 256

// concurrency is the effective max_concurrency.
func (c Config) concurrency() int {
	if c.MaxConcurrency > 0 {
		return c.MaxConcurrency
	}
	return DefaultRunsPerCPU * runtime.GOMAXPROCS(0)
}
