package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// readAll reads topic from its start to the end offsets it has now, outside
// any consumer group.
func readAll(ctx context.Context, c kafka.Config, log *slog.Logger, topic string) ([]*kgo.Record, error) {
	adm, err := kgo.NewClient(c.ClientOptions(log)...)
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	want := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = kgo.NewOffset().AtStart()
			remaining[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(c.ClientOptions(log), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, r)
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out, nil
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
// webhook-id. It does not remove them from the park topic (a topic is not
// edited): a second redrive sends them again, with that same id.
func Redrive(ctx context.Context, cfg Config, log *slog.Logger, sink deliver.Sink, from, to time.Time) (RedriveResult, error) {
	res := RedriveResult{Errors: map[string]string{}}
	recs, err := readAll(ctx, cfg.Kafka, log, cfg.Delivery.ParkTopic)
	if err != nil {
		return res, fmt.Errorf("redrive: %w", err)
	}
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
		var ev eventsv1.AlertStateChanged
		if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
			res.Failed++
			res.Errors[fmt.Sprintf("offset %d", r.Offset)] = err.Error()
			continue
		}
		n := deliver.Notification{ID: key, Events: []*eventsv1.AlertStateChanged{&ev}}
		if err := sink.Send(ctx, n); err != nil {
			res.Failed++
			res.Errors[ev.GetEventId()] = err.Error()
			log.Warn("redrive failed", "destination", sink.Name(), "event_id", ev.GetEventId(), "err", err)
			continue
		}
		res.Sent++
		log.Info("redriven", "destination", sink.Name(), "event_id", ev.GetEventId(), "key", n.Key())
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
