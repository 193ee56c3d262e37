package notifier

import (
	"log/slog"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/picket-dev/picket/platform/kafka"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// labelsRetry is how soon the check labels are read again after a failed
// read; otherwise the topic is followed, so a label change routes by the
// new labels within a fetch.
const labelsRetry = 10 * time.Second

// newCheckLabels are the checks' labels, read from the check-definitions
// topic (compacted, keyed by check id; a definition is YAML with a `labels`
// map) and followed. Routes match them and group_by
// groups by them; templates show them.
func newCheckLabels(c kafka.Config, log *slog.Logger) *kafka.Compacted[map[string]string] {
	return kafka.NewCompacted(c, c.ChecksTopic, log, labelsRetry, func(_ string, v []byte) (map[string]string, error) {
		var def struct {
			Labels map[string]string `yaml:"labels"`
		}
		err := yaml.Unmarshal(v, &def)
		return def.Labels, err
	})
}

// labels are a check's labels (nil: unknown or none).
func (n *Notifier) labels(id string) map[string]string {
	l, _ := n.checks.Get(id)
	return l
}

// labelsFor are the labels of the checks of evs, for templates; nil when
// none has labels.
func (n *Notifier) labelsFor(evs []*eventsv1.AlertStateChanged) map[string]map[string]string {
	var out map[string]map[string]string
	for _, ev := range evs {
		if l := n.labels(ev.GetCheckId()); l != nil {
			if out == nil {
				out = map[string]map[string]string{}
			}
			out[ev.GetCheckId()] = l
		}
	}
	return out
}
