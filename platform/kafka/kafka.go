// Package kafka holds the franz-go plumbing every service shares: client
// options, topic creation, record headers and the dead-letter topic.
//
// It never decides what a record means; services decode and act.
package kafka

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/picket-dev/picket/schemas/events"
)

// Config is the Kafka section every service shares.
type Config struct {
	// Brokers are the seed brokers (host:port); the rest are discovered.
	Brokers []string `koanf:"brokers"`
	// ClientID names this client in the brokers' logs and quotas.
	ClientID string `koanf:"client_id"`
	// ResultsTopic carries one CheckResult per run, keyed by check id.
	ResultsTopic string `koanf:"results_topic"`
	// AlertsTopic carries AlertStateChanged, keyed check/rule (compacted).
	AlertsTopic string `koanf:"alerts_topic"`
	// DeadLetterTopic holds the records that could not be decoded or
	// validated, with the reason and the source in headers.
	DeadLetterTopic string `koanf:"dead_letter_topic"`
	// ChecksTopic holds check definitions (compacted, keyed by check id).
	ChecksTopic string `koanf:"checks_topic"`
	// NotifierStateTopic records, per notifier destination and check/rule,
	// what was last sent and when (compacted: the notifier rebuilds its
	// state from it at start).
	NotifierStateTopic string `koanf:"notifier_state_topic"`
	// NotifyDeadLetterTopic holds the events a notifier destination could not
	// take (`picket notify redrive` re-sends them).
	NotifyDeadLetterTopic string `koanf:"notify_dead_letter_topic"`
	// Partitions and ReplicationFactor are used when creating a missing topic.
	Partitions        int32 `koanf:"partitions"`
	ReplicationFactor int16 `koanf:"replication_factor"`
	// CreateTopics creates missing topics at start-up.
	CreateTopics bool `koanf:"create_topics"`
}

// DefaultConfig is the default Kafka configuration.
func DefaultConfig() Config {
	return Config{
		Brokers:               []string{"127.0.0.1:9092"},
		ClientID:              "picket",
		ResultsTopic:          "picket.check-results.v1",
		AlertsTopic:           "picket.alert-state.v1",
		DeadLetterTopic:       "picket.dead-letter.v1",
		ChecksTopic:           "picket.check-definitions.v1",
		NotifierStateTopic:    "picket.notifier-state.v1",
		NotifyDeadLetterTopic: "picket.notify-dead-letter.v1",
		Partitions:            6,
		ReplicationFactor:     1,
		CreateTopics:          true,
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka.brokers: at least one broker is required")
	case c.ResultsTopic == "":
		return errors.New("kafka.results_topic: must not be empty")
	case c.AlertsTopic == "":
		return errors.New("kafka.alerts_topic: must not be empty")
	case c.DeadLetterTopic == "":
		return errors.New("kafka.dead_letter_topic: must not be empty")
	case c.ChecksTopic == "":
		return errors.New("kafka.checks_topic: must not be empty")
	case c.NotifierStateTopic == "":
		return errors.New("kafka.notifier_state_topic: must not be empty")
	case c.NotifyDeadLetterTopic == "":
		return errors.New("kafka.notify_dead_letter_topic: must not be empty")
	case c.Partitions < 1:
		return fmt.Errorf("kafka.partitions: %d, must be at least 1", c.Partitions)
	case c.ReplicationFactor < 1:
		return fmt.Errorf("kafka.replication_factor: %d, must be at least 1", c.ReplicationFactor)
	}
	for i, b := range c.Brokers {
		if b == "" {
			return fmt.Errorf("kafka.brokers[%d]: empty address", i)
		}
	}
	return nil
}

// ClientOptions are the options every client starts from.
func (c Config) ClientOptions(log *slog.Logger) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.WithLogger(kslog.New(log)),
	}
}

// Headers converts schema headers to record headers.
func Headers(s events.Schema) []kgo.RecordHeader {
	hs := s.Headers()
	out := make([]kgo.RecordHeader, len(hs))
	for i, h := range hs {
		out[i] = kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)}
	}
	return out
}

// RecordHeaders converts a record's headers for events.Decode.
func RecordHeaders(r *kgo.Record) []events.Header {
	out := make([]events.Header, len(r.Headers))
	for i, h := range r.Headers {
		out[i] = events.Header{Key: h.Key, Value: string(h.Value)}
	}
	return out
}
