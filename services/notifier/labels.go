package notifier

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/picket-dev/picket/platform/kafka"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// labelsRefresh is how often the check labels are re-read: a label change
// routes by the new labels within this long.
const labelsRefresh = 30 * time.Second

// checkLabels are the checks' labels, read from the check-definitions topic
// (compacted, keyed by check id; a definition is YAML with a `labels` map).
// Routes match them and group_by groups by them; templates show them.
type checkLabels struct {
	mu     sync.RWMutex
	byID   map[string]map[string]string
	loaded bool
}

func (l *checkLabels) get(id string) map[string]string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.byID[id]
}

// load reads the checks topic to its end and replaces the labels.
func (l *checkLabels) load(ctx context.Context, c kafka.Config, log *slog.Logger) error {
	cl, err := kgo.NewClient(c.ClientOptions(log)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	by := map[string]map[string]string{}
	err = kafka.ReadToEnd(ctx, cl, c.ChecksTopic, func(r *kgo.Record) {
		if r.Value == nil {
			delete(by, string(r.Key))
			return
		}
		var def struct {
			Labels map[string]string `yaml:"labels"`
		}
		if err := yaml.Unmarshal(r.Value, &def); err != nil {
			// The prober refuses such a definition too; no labels is what
			// routes see for it.
			delete(by, string(r.Key))
			return
		}
		by[string(r.Key)] = def.Labels
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.byID, l.loaded = by, true
	l.mu.Unlock()
	return nil
}

// run re-reads the labels every labelsRefresh until ctx ends.
func (l *checkLabels) run(ctx context.Context, c kafka.Config, log *slog.Logger) {
	t := time.NewTicker(labelsRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.load(ctx, c, log); err != nil && ctx.Err() == nil {
			log.Warn("could not re-read check labels; routing by the labels read before", "topic", c.ChecksTopic, "err", err)
		}
	}
}

// labels are a check's labels (nil: unknown or none).
func (n *Notifier) labels(id string) map[string]string { return n.checks.get(id) }

// labelsFor are the labels of the checks of evs, for templates; nil when
// none has labels.
func (n *Notifier) labelsFor(evs []*eventsv1.AlertStateChanged) map[string]map[string]string {
	var out map[string]map[string]string
	for _, ev := range evs {
		if l := n.checks.get(ev.GetCheckId()); l != nil {
			if out == nil {
				out = map[string]map[string]string{}
			}
			out[ev.GetCheckId()] = l
		}
	}
	return out
}
