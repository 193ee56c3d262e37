package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/picket-dev/picket/platform/kafka"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// sentState is what one destination last did for one alert (check/rule):
// one record of the compacted state topic, keyed destination + "/" + the
// alert key, written after each delivery or parking and before the alert
// topic's offset is committed. Reading the state topic to its end at start
// tells which events were already delivered (so a replay does not send them
// again) and when an open alert was last sent (so a restart neither repeats
// nor forgets a reminder).
type sentState struct {
	Destination string `json:"destination"`
	Key         string `json:"key"`
	// Partition and Offset are the alert record last handled; records at or
	// before it in that partition are done.
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// Recent are the last event ids handled, newest last: an aggregator
	// that re-emits an event later (a restart) is not sent twice.
	Recent []string `json:"recent"`
	// Open is whether the alert is down or degraded and its notification
	// was sent (reminders are due); Event is that event, Repeat the number
	// of reminders sent and SentAt when the last message went.
	Open   bool      `json:"open"`
	Event  []byte    `json:"event,omitempty"`
	Repeat int       `json:"repeat"`
	SentAt time.Time `json:"sent_at"`
}

const maxRecent = 16

func (s *sentState) seen(id string) bool { return slices.Contains(s.Recent, id) }

func (s *sentState) remember(id string) {
	if s.seen(id) {
		return
	}
	s.Recent = append(s.Recent, id)
	if len(s.Recent) > maxRecent {
		s.Recent = s.Recent[len(s.Recent)-maxRecent:]
	}
}

func (s *sentState) event() (*eventsv1.AlertStateChanged, error) {
	var ev eventsv1.AlertStateChanged
	if err := proto.Unmarshal(s.Event, &ev); err != nil {
		return nil, fmt.Errorf("state %s/%s: event: %w", s.Destination, s.Key, err)
	}
	return &ev, nil
}

func stateKey(dest, key string) string { return dest + "/" + key }

func (s *sentState) record(topic string) (*kgo.Record, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", stateKey(s.Destination, s.Key), err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(stateKey(s.Destination, s.Key)), Value: b}, nil
}

// loadState reads the state topic to its end: every destination's state by
// alert key.
func loadState(ctx context.Context, c kafka.Config, log *slog.Logger, topic string) (map[string]map[string]*sentState, error) {
	recs, err := kafka.LatestByKey(ctx, c, log, topic)
	if err != nil {
		return nil, fmt.Errorf("notifier state: %w", err)
	}
	out := map[string]map[string]*sentState{}
	for k, r := range recs {
		if len(r.Value) == 0 {
			continue // tombstone
		}
		var s sentState
		if err := json.Unmarshal(r.Value, &s); err != nil || s.Destination == "" || !strings.HasPrefix(k, s.Destination+"/") {
			// Not ours to repair: the key's alert is then handled as new,
			// at worst sent once more.
			log.Warn("ignoring unreadable notifier state record", "topic", topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		if out[s.Destination] == nil {
			out[s.Destination] = map[string]*sentState{}
		}
		out[s.Destination][s.Key] = &s
	}
	return out, nil
}
