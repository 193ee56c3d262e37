package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// readAll reads topic from its start to the end offsets it has now, outside
// any consumer group.
func readAll(ctx context.Context, c kafka.Config, log *slog.Logger, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(c.ClientOptions(log)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	err = kafka.ReadToEnd(ctx, cl, topic, func(r *kgo.Record) { out = append(out, r) })
	return out, err
}

// RedriveResult is what Redrive did.
type RedriveResult struct {
	// Sent were delivered; Failed were not (Errors says why, per event id).
	Sent, Failed int
	Errors       map[string]string
}

// Redrive re-sends the events parked for destination dest between from
// (inclusive) and to (exclusive; zero: now) through sink, once each, with
// the notification key they were parked with, so receivers see the same
// webhook-id. The events of one parked notification (a group) go out again
// as one notification: sent one by one under the group's key, a receiver
// that drops repeated webhook-ids would keep only the first. It does not
// remove them from the park topic (a topic is not edited): a second redrive
// sends them again, with that same id.
func Redrive(ctx context.Context, cfg Config, log *slog.Logger, sink deliver.Sink, from, to time.Time) (RedriveResult, error) {
	res := RedriveResult{Errors: map[string]string{}}
	recs, err := readAll(ctx, cfg.Kafka, log, cfg.Kafka.NotifyDeadLetterTopic)
	if err != nil {
		return res, fmt.Errorf("redrive: %w", err)
	}
	// The parked notifications, in the order they were parked, each with
	// its events once.
	type parked struct {
		key  string
		evs  []*eventsv1.AlertStateChanged
		seen map[string]bool
	}
	var order []*parked
	byKey := map[string]*parked{}
	for _, r := range recs {
		if string(r.Key) != sink.Name() || r.Timestamp.Before(from) || (!to.IsZero() && !r.Timestamp.Before(to)) {
			continue
		}
		var key string
		for _, h := range r.Headers {
			if h.Key == HeaderParkKey {
				key = string(h.Value)
			}
		}
		ev := new(eventsv1.AlertStateChanged)
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, ev); err != nil {
			res.Failed++
			res.Errors[fmt.Sprintf("offset %d", r.Offset)] = err.Error()
			continue
		}
		id := key
		if id == "" {
			id = "event " + ev.GetEventId() // parked without a key: on its own
		}
		p := byKey[id]
		if p == nil {
			p = &parked{key: key, seen: map[string]bool{}}
			byKey[id] = p
			order = append(order, p)
		}
		if !p.seen[ev.GetEventId()] {
			p.seen[ev.GetEventId()] = true
			p.evs = append(p.evs, ev)
		}
	}
	for _, p := range order {
		n := deliver.Notification{ID: p.key, Events: p.evs}
		if err := sink.Send(ctx, n); err != nil {
			res.Failed += len(p.evs)
			for _, ev := range p.evs {
				res.Errors[ev.GetEventId()] = err.Error()
			}
			log.Warn("redrive failed", "destination", sink.Name(), "key", n.Key(), "events", len(p.evs), "err", err)
			continue
		}
		res.Sent += len(p.evs)
		log.Info("redriven", "destination", sink.Name(), "key", n.Key(), "events", len(p.evs))
	}
	return res, nil
}

// sinkNamed is the configured destination called name.
func sinkNamed(cfg Config, name string) (deliver.Sink, error) {
	sinks, err := Sinks(cfg, deliver.Options{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range sinks {
		if s.Name() == name {
			return s, nil
		}
		names = append(names, s.Name())
	}
	return nil, fmt.Errorf("no destination is named %q (configured: %v)", name, names)
}

// RedriveDestination is Redrive for the configured destination named dest
// (`picket notify redrive`).
func RedriveDestination(ctx context.Context, cfg Config, log *slog.Logger, dest string, from, to time.Time) (RedriveResult, error) {
	s, err := sinkNamed(cfg, dest)
	if err != nil {
		return RedriveResult{}, fmt.Errorf("redrive: %w", err)
	}
	return Redrive(ctx, cfg, log, s, from, to)
}

// SendTest renders and sends one sample notification to the configured
// destination named dest, once, without retrying: the error says what the
// destination answered.
func SendTest(ctx context.Context, cfg Config, dest string, now time.Time) (string, error) {
	s, err := sinkNamed(cfg, dest)
	if err != nil {
		return "", fmt.Errorf("notify test: %w", err)
	}
	n := deliver.Sample(now)
	if err := s.Send(ctx, n); err != nil {
		o, _ := deliver.Classify(err)
		return n.Key(), fmt.Errorf("notify test: %s (%s): %w", dest, o, err)
	}
	return n.Key(), nil
}
