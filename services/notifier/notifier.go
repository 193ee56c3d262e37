// Package notifier consumes alert state changes and delivers each to every
// configured sink. It commits an offset only once every sink has taken the
// events before it, or refused them for good (logged and counted).
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/picket-dev/picket/platform/admin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/telemetry"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
	"github.com/picket-dev/picket/services/notifier/safedial"
)

// Config is the notifier's configuration.
type Config struct {
	Kafka    kafka.Config        `koanf:"kafka"`
	Group    string              `koanf:"group"`
	Webhooks []WebhookConfig     `koanf:"webhooks"`
	Admin    admin.Config        `koanf:"admin"`
	Log      telemetry.LogConfig `koanf:"log"`

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
		Kafka: kafka.DefaultConfig(),
		Group: "picket-notifier",
		Admin: admin.Config{Addr: ":9103"},
		Log:   telemetry.DefaultLog(),
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
	return c.Log.Validate()
}

// Notifier delivers alert events.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	client  *kgo.Client
	sinks   []deliver.Sink
	sent    map[string]*recent // per sink: event ids already delivered
	metrics *metrics
}

type metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// New builds a notifier delivering to the configured webhooks.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Notifier, error) {
	sinks, err := Sinks(cfg, deliver.Options{})
	if err != nil {
		return nil, err
	}
	return NewWithSinks(cfg, sinks, log, reg)
}

// NewWithSinks builds a notifier delivering to sinks.
func NewWithSinks(cfg Config, sinks []deliver.Sink, log *slog.Logger, reg prometheus.Registerer) (*Notifier, error) {
	opts := append(cfg.Kafka.ClientOptions(log), kafka.GroupOptions(cfg.Group, cfg.Kafka.AlertsTopic)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_notifier_deliveries_total",
			Help: "Deliveries by sink and outcome (delivered, duplicate, rejected; not delivered: silenced, historical, not_alerting).",
		}, []string{"sink", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_notifier_delivery_duration_seconds",
			Help:    "Time to deliver one event to one sink, retries included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"sink"}),
	}
	reg.MustRegister(m.deliveries, m.latency)
	sent := map[string]*recent{}
	for _, s := range sinks {
		sent[s.Name()] = newRecent(10000)
	}
	return &Notifier{cfg: cfg, log: log, client: cl, sinks: sinks, sent: sent, metrics: m}, nil
}

// Ready reports whether Kafka answers.
func (n *Notifier) Ready(ctx context.Context) error { return n.client.Ping(ctx) }

// Run consumes and delivers until ctx is done.
func (n *Notifier) Run(ctx context.Context) error {
	defer n.client.Close()
	if err := retry.Do(ctx, retry.Default, n.log, "create topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, n.client, n.cfg.Kafka, n.cfg.Kafka.AlertsTopic)
	}); err != nil {
		return err
	}
	n.log.Info("notifier started", "topic", n.cfg.Kafka.AlertsTopic, "sinks", len(n.sinks))
	err := kafka.ConsumeBatches(ctx, n.client, n.log, kafka.Batching{MaxRecords: 500}, n.handle)
	n.log.Info("notifier stopped")
	return err
}

func (n *Notifier) handle(ctx context.Context, recs []*kgo.Record) error {
	var evs []*eventsv1.AlertStateChanged
	var dead []*kgo.Record
	for _, r := range recs {
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			n.log.Warn("dead-lettering alert record", "partition", r.Partition, "offset", r.Offset, "reason", err)
			dead = append(dead, kafka.DeadLetter(n.cfg.Kafka.DeadLetterTopic, r, err, time.Now()))
			continue
		}
		evs = append(evs, &ev)
	}
	if err := retry.Do(ctx, retry.Default, n.log, "produce dead letters", func(ctx context.Context) error {
		return kafka.ProduceDeadLetters(ctx, n.client, dead...)
	}); err != nil {
		return err
	}
	// Sinks run in parallel; each takes the events in order.
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range n.sinks {
		g.Go(func() error {
			for _, ev := range evs {
				if err := n.deliver(gctx, s, ev); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// deliver sends ev to s, retrying transient failures until it is delivered,
// rejected for good, or ctx ends.
func (n *Notifier) deliver(ctx context.Context, s deliver.Sink, ev *eventsv1.AlertStateChanged) error {
	sent := n.sent[s.Name()]
	if sent.has(ev.GetEventId()) {
		n.metrics.deliveries.WithLabelValues(s.Name(), "duplicate").Inc()
		return nil
	}
	if skip := skipReason(ev); skip != "" {
		// Recorded by the aggregator and flagged; nobody is paged for it.
		n.metrics.deliveries.WithLabelValues(s.Name(), skip).Inc()
		n.log.Info("not delivering transition", "reason", skip, "sink", s.Name(), "check", ev.GetCheckId(),
			"rule", ev.GetRule(), "state", deliver.StateLabel(ev.GetState()),
			"previous_state", deliver.StateLabel(ev.GetPreviousState()), "silence", ev.GetSilence())
		return nil
	}
	start := time.Now()
	err := retry.Do(ctx, retry.Default, n.log.With("sink", s.Name(), "event_id", ev.GetEventId()), "deliver", func(ctx context.Context) error {
		err := s.Send(ctx, deliver.Single(ev))
		if o, _ := deliver.Classify(err); o == deliver.Permanent || o == deliver.Gone {
			return retry.Permanent{Err: err}
		}
		return err
	})
	outcome, _ := deliver.Classify(err)
	switch {
	case err == nil:
		n.metrics.deliveries.WithLabelValues(s.Name(), "delivered").Inc()
		n.metrics.latency.WithLabelValues(s.Name()).Observe(time.Since(start).Seconds())
		n.log.Info("delivered", "sink", s.Name(), "check", ev.GetCheckId(), "state", deliver.StateLabel(ev.GetState()))
	case outcome == deliver.Permanent || outcome == deliver.Gone:
		n.metrics.deliveries.WithLabelValues(s.Name(), "rejected").Inc()
		n.log.Error("sink rejected event; not retrying", "sink", s.Name(), "event_id", ev.GetEventId(), "err", err)
	default:
		return err
	}
	sent.add(ev.GetEventId())
	return nil
}

// skipReason says why ev is not delivered (the outcome counted), or "" to
// deliver it: a silenced transition (maintenance window); a historical one
// (found late by the aggregator: restore, changed rules, a backlog — nobody
// is paged for the past); one that neither opens nor closes an alert (a
// check going stale or reporting again while up).
func skipReason(ev *eventsv1.AlertStateChanged) string {
	switch {
	case ev.GetSilenced():
		return "silenced"
	case ev.GetHistorical():
		return "historical"
	case ev.GetState() == stale && !open(ev.GetPreviousState()),
		ev.GetPreviousState() == stale && ev.GetState() == eventsv1.AlertState_ALERT_STATE_UP:
		return "not_alerting"
	}
	return ""
}

const stale = eventsv1.AlertState_ALERT_STATE_STALE

// open reports whether s is an alert: down or degraded.
func open(s eventsv1.AlertState) bool {
	return s == eventsv1.AlertState_ALERT_STATE_DOWN || s == eventsv1.AlertState_ALERT_STATE_DEGRADED
}

// recent remembers the last n ids, so a redelivered batch is not sent twice.
type recent struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newRecent(n int) *recent { return &recent{ids: map[string]struct{}{}, ring: make([]string, n)} }

func (r *recent) has(id string) bool { _, ok := r.ids[id]; return ok }

func (r *recent) add(id string) {
	if old := r.ring[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.ring[r.next] = id
	r.ids[id] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
