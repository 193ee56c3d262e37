package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/retry"
)

// TopicSpec describes one topic to create when missing.
type TopicSpec struct {
	Name    string
	Configs map[string]string
}

// Topics are the specs of Picket's topics under this configuration. The alert
// and check-definition topics are compacted: keyed by check/rule and check
// id, the latest state of every rule and the latest definition of every
// check must survive, which retention (cleanup.policy=delete) would delete.
func (c Config) Topics() []TopicSpec {
	return []TopicSpec{
		{Name: c.ResultsTopic},
		{Name: c.AlertsTopic, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: c.DeadLetterTopic},
		{Name: c.ChecksTopic, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: c.NotifierStateTopic, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: c.NotifyDeadLetterTopic},
	}
}

// ErrTopicPolicy reports an existing topic whose configuration would lose
// what Picket keeps in it (a compacted topic with another cleanup.policy).
var ErrTopicPolicy = errors.New("topic has the wrong configuration")

// EnsureTopics creates the configured topics that do not exist yet (when
// kafka.create_topics), then verifies that each topic of uses — the topics
// the caller relies on — has the configuration its spec requires (the alert
// and checks topics: cleanup.policy=compact). A topic created earlier, by
// hand or by a broker's auto-creation, is not changed by creating it, so it
// is checked every start.
//
// A wrong configuration is a retry.Permanent error wrapping ErrTopicPolicy
// that says how to fix it: starting anyway would let retention delete the
// state. A used topic that does not exist (yet) is a transient error.
func EnsureTopics(ctx context.Context, cl *kgo.Client, c Config, uses ...string) error {
	adm := kadm.NewClient(cl)
	if c.CreateTopics {
		for _, t := range c.Topics() {
			var cfg map[string]*string
			if len(t.Configs) > 0 {
				cfg = map[string]*string{}
				for k, v := range t.Configs {
					cfg[k] = kadm.StringPtr(v)
				}
			}
			resp, err := adm.CreateTopic(ctx, c.Partitions, c.ReplicationFactor, cfg, t.Name)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", t.Name, err)
			}
		}
	}
	return verifyTopics(ctx, adm, c, uses)
}

func verifyTopics(ctx context.Context, adm *kadm.Client, c Config, uses []string) error {
	want := map[string]map[string]string{}
	for _, t := range c.Topics() {
		if slices.Contains(uses, t.Name) && len(t.Configs) > 0 {
			want[t.Name] = t.Configs
		}
	}
	if len(want) == 0 {
		return nil
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	described, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return fmt.Errorf("describe topics %s: %w", strings.Join(names, ", "), err)
	}
	var wrong []error
	for _, name := range names {
		rc, err := described.On(name, nil)
		if err == nil {
			err = rc.Err
		}
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("topic %s does not exist: create it with %s", name, configList(want[name]))
		}
		if err != nil {
			return fmt.Errorf("describe topic %s: %w", name, err)
		}
		have := map[string]string{}
		for _, cfg := range rc.Configs {
			have[cfg.Key] = cfg.MaybeValue()
		}
		for _, k := range sortedKeys(want[name]) {
			if v := want[name][k]; have[k] != v {
				broker := "BROKER"
				if len(c.Brokers) > 0 {
					broker = c.Brokers[0]
				}
				wrong = append(wrong, fmt.Errorf("%w: topic %s has %s=%s; it must be %s: kafka-configs --bootstrap-server %s "+
					"--alter --entity-type topics --entity-name %s --add-config %s=%s",
					ErrTopicPolicy, name, k, have[k], v, broker, name, k, v))
			}
		}
	}
	if len(wrong) > 0 {
		return retry.Permanent{Err: errors.Join(wrong...)}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func configList(m map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s", k, m[k])
	}
	return b.String()
}
