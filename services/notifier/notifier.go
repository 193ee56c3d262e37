// Package notifier consumes alert state changes and delivers them to every
// configured destination, each on its own: its own consumer group, retries,
// rate limit and parking, so that one destination failing never delays
// another. It commits an alert offset for a destination only once that
// destination took the events before it, or they were parked, and the state
// topic says so: it must never lose an event, nor send one twice except the
// ones in flight at a crash.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/picket-dev/picket/platform/admin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/platform/telemetry"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
	"github.com/picket-dev/picket/services/notifier/safedial"
)

// Config is the notifier's configuration.
type Config struct {
	Kafka    kafka.Config    `koanf:"kafka"`
	Group    string          `koanf:"group"`
	Webhooks []WebhookConfig `koanf:"webhooks"`
	Delivery DeliveryConfig  `koanf:"delivery"`
	Routes   []RouteConfig   `koanf:"routes"`
	// ClickHouse receives the delivery log when delivery.log_to_clickhouse.
	ClickHouse clickhouse.Config   `koanf:"clickhouse"`
	Admin      admin.Config        `koanf:"admin"`
	Log        telemetry.LogConfig `koanf:"log"`

	// Destinations are the notification sinks (deliver.Kinds); the legacy
	// webhooks entries are generic webhooks too.
	Destinations []deliver.DestinationConfig `koanf:"destinations"`
	Safety       safedial.Config             `koanf:"safety"`
	Links        deliver.LinksConfig         `koanf:"links"`
}

// WebhookConfig is one generic JSON webhook.
type WebhookConfig struct {
	Name string `koanf:"name"`
	URL  string `koanf:"url"`
	// Secret signs each request (X-Picket-Signature); empty sends unsigned.
	Secret  string        `koanf:"secret"`
	Timeout time.Duration `koanf:"timeout"`
}

// DefaultConfig is the notifier's default configuration.
func DefaultConfig() Config {
	return Config{
		Kafka:      kafka.DefaultConfig(),
		Group:      "picket-notifier",
		Delivery:   DefaultDelivery(),
		ClickHouse: clickhouse.DefaultConfig(),
		Admin:      admin.Config{Addr: ":9103"},
		Log:        telemetry.DefaultLog(),
	}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.Group == "" {
		return errors.New("group: must not be empty")
	}
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		u, err := url.Parse(w.URL)
		switch {
		case w.Name == "":
			return fmt.Errorf("%s.name: required", key)
		case names[w.Name]:
			return fmt.Errorf("%s.name: %q is used twice", key, w.Name)
		case w.URL == "":
			return fmt.Errorf("%s.url: required", key)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("%s.url: %q is not an http(s) URL", key, w.URL)
		case w.Timeout < 0:
			return fmt.Errorf("%s.timeout: %s must not be negative", key, w.Timeout)
		}
		names[w.Name] = true
	}
	if err := c.validateDestinations(names); err != nil {
		return err
	}
	if err := c.Delivery.Validate(c.destinationNames()); err != nil {
		return err
	}
	if err := validateRoutes(c.Routes, c.destinationNames()); err != nil {
		return err
	}
	if c.Delivery.LogToClickHouse {
		if err := c.ClickHouse.Validate(); err != nil {
			return err
		}
	}
	return c.Log.Validate()
}

// destinationNames are the names of the configured destinations.
func (c Config) destinationNames() []string {
	var names []string
	for _, w := range c.Webhooks {
		names = append(names, w.Name)
	}
	for _, d := range c.Destinations {
		names = append(names, d.Name)
	}
	return names
}

// Notifier delivers alert events.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	client  *kgo.Client // produces state, parked events and dead letters
	dests   []*destination
	metrics *metrics
	now     func() time.Time
	dlog    DeliveryLog
	checks  *kafka.Compacted[map[string]string]
}

// DeliveryLog records every attempt and every decision not to send (the
// delivery log table). Record must not block: it buffers.
type DeliveryLog interface {
	Record(Delivery)
}

// Delivery is one row of the delivery log.
type Delivery struct {
	EventID, Key, Destination string
	Attempt                   int
	// Status is delivered, retry, permanent, gone, parked, or why the event
	// was not sent (silenced, historical, stale, resolved_not_sent).
	Status  string
	Latency time.Duration
	Error   string
	At      time.Time
}

// Options are what tests and embedders change.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DeliveryLog, when set, receives every attempt.
	DeliveryLog DeliveryLog
}

type metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	disabled   *prometheus.GaugeVec
}

// New builds a notifier delivering to the configured destinations.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Notifier, error) {
	sinks, err := Sinks(cfg, deliver.Options{})
	if err != nil {
		return nil, err
	}
	return NewWithSinks(cfg, sinks, log, reg, Options{})
}

// NewWithSinks builds a notifier delivering to sinks.
func NewWithSinks(cfg Config, sinks []deliver.Sink, log *slog.Logger, reg prometheus.Registerer, o Options) (*Notifier, error) {
	cl, err := kgo.NewClient(cfg.Kafka.ClientOptions(log)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_notifier_deliveries_total",
			Help: "Messages and events by destination and outcome (delivered, retried, parked, rejected, duplicate, silenced, historical, not_alerting, resolved_not_sent, unrouted, before_first_start, undecodable).",
		}, []string{"sink", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_notifier_delivery_duration_seconds",
			Help:    "Time of one successful request to a destination.",
			Buckets: prometheus.DefBuckets,
		}, []string{"sink"}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "picket_notifier_destination_disabled",
			Help: "1 when a destination answered 410 Gone and gets nothing more until restarted.",
		}, []string{"destination"}),
	}
	reg.MustRegister(m.deliveries, m.latency, m.disabled)
	n := &Notifier{cfg: cfg, log: log, client: cl, metrics: m, now: o.Now, dlog: o.DeliveryLog, checks: newCheckLabels(cfg.Kafka, log)}
	for _, s := range sinks {
		d := newDestination(n, s)
		n.dests = append(n.dests, d)
		m.disabled.WithLabelValues(s.Name()).Set(0)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "picket_notifier_destination_stalled_seconds",
			Help:        "How long a destination has failed to take the events waiting for it, once that is stall_after or more; 0 while it delivers.",
			ConstLabels: prometheus.Labels{"destination": s.Name()},
		}, func() float64 { return d.Stalled().Seconds() }))
	}
	return n, nil
}

func (n *Notifier) close() {
	n.client.Close()
}

// Ready reports whether Kafka answers.
func (n *Notifier) Ready(ctx context.Context) error { return n.client.Ping(ctx) }

// Checks are the readiness checks of /readyz: Kafka, and one per
// destination, so a stalled destination is named on its own line and the
// others still say ok.
func (n *Notifier) Checks() map[string]admin.Check {
	c := map[string]admin.Check{"kafka": n.Ready}
	for _, d := range n.dests {
		c["destination "+d.name] = d.Ready
	}
	return c
}

// Run consumes and delivers until ctx is done.
func (n *Notifier) Run(ctx context.Context) error {
	defer n.close()
	if err := retry.Do(ctx, retry.Default, n.log, "create topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, n.client, n.cfg.Kafka, n.cfg.Kafka.AlertsTopic, n.cfg.Kafka.NotifierStateTopic)
	}); err != nil {
		return err
	}
	// Routes by label need the labels before the first event; a checks
	// topic that cannot be read leaves them empty (logged) until it can.
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := retry.Do(lctx, retry.Default, n.log, "read check labels", func(ctx context.Context) error {
		return n.checks.Load(ctx)
	}); err != nil && ctx.Err() == nil {
		n.log.Error("could not read check labels; routes by label match nothing until they are read", "topic", n.cfg.Kafka.ChecksTopic, "err", err)
	}
	cancel()
	n.log.Info("notifier started", "topic", n.cfg.Kafka.AlertsTopic, "destinations", len(n.dests))
	var wg sync.WaitGroup
	wg.Go(func() { n.checks.Run(ctx) })
	for _, d := range n.dests {
		wg.Go(func() {
			if err := d.run(ctx); err != nil {
				d.log.Error("destination stopped", "err", err)
				d.setStatus(func() { d.disabled, d.failingSince = "stopped: "+err.Error(), n.now() })
			}
		})
	}
	wg.Wait()
	n.log.Info("notifier stopped")
	return nil
}

// produce writes recs, retrying until Kafka took them or ctx ends; it
// reports whether they were written.
func (n *Notifier) produce(ctx context.Context, log *slog.Logger, what string, recs ...*kgo.Record) bool {
	if len(recs) == 0 {
		return true
	}
	err := retry.Do(ctx, retry.Default, log, what, func(ctx context.Context) error {
		return kafka.Produce(ctx, n.client, recs...)
	})
	return err == nil
}

// record hands one delivery-log row to the delivery log, if any.
func (n *Notifier) record(dest, key string, ev *eventsv1.AlertStateChanged, attempt int, status string, latency time.Duration, errText string) {
	if n.dlog == nil {
		return
	}
	n.dlog.Record(Delivery{EventID: ev.GetEventId(), Key: key, Destination: dest, Attempt: attempt, Status: status,
		Latency: latency, Error: errText, At: n.now()})
}
