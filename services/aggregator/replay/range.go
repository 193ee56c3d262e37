package replay

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// begin resumes the checkpoint of this replay, or resolves the range to
// offsets and writes a new one.
func begin(ctx context.Context, adm *kadm.Client, database string, o *Options) (*State, Summary, error) {
	if o.StatePath != "" {
		prev, err := LoadState(o.StatePath)
		if err != nil {
			return nil, Summary{}, err
		}
		switch {
		case prev == nil || o.Restart:
		case prev.same(o.Topic, database, o.Spec) && prev.Finished():
			return prev, Summary{State: *prev, AlreadyFinished: true}, nil
		case prev.same(o.Topic, database, o.Spec):
			o.Log.Info("resuming replay", "state", o.StatePath, "range", prev.Spec,
				"from", prev.From, "to", prev.To, "started", prev.StartedAt)
			return prev, Summary{Resumed: true}, nil
		case !prev.Finished():
			return nil, Summary{}, fmt.Errorf("%w: %s is a replay of %s (from %s) of topic %s into database %s, started %s",
				ErrOtherReplay, o.StatePath, prev.Spec, prev.From.Format(time.RFC3339), prev.Topic, prev.Database,
				prev.StartedAt.Format(time.RFC3339))
		}
	}
	starts, err := listOffsets(ctx, adm, o.Topic, o.From)
	if err != nil {
		return nil, Summary{}, err
	}
	ends, err := listOffsets(ctx, adm, o.Topic, o.To)
	if err != nil {
		return nil, Summary{}, err
	}
	now := time.Now().UTC()
	s := &State{Version: stateVersion, Topic: o.Topic, Database: database, Spec: o.Spec,
		From: o.From.UTC(), StartedAt: now, UpdatedAt: now}
	if !o.To.IsZero() {
		s.To = o.To.UTC()
	}
	for _, p := range slices.Sorted(maps.Keys(starts)) {
		end, ok := ends[p]
		if !ok {
			return nil, Summary{}, fmt.Errorf("topic %s: no end offset for partition %d", o.Topic, p)
		}
		start := starts[p]
		// Timestamps need not grow with offsets; never let the range invert.
		end = max(end, start)
		s.Partitions = append(s.Partitions, PartitionState{Partition: p, Start: start, End: end, Next: start})
	}
	if o.StatePath != "" {
		if err := s.save(o.StatePath); err != nil {
			return nil, Summary{}, err
		}
	}
	return s, Summary{}, nil
}

// listOffsets returns, per partition of topic, the first offset with a
// timestamp at or after t (the end offset when there is none); for a zero t,
// the end offset.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string, t time.Time) (map[int32]int64, error) {
	var (
		listed kadm.ListedOffsets
		err    error
	)
	if t.IsZero() {
		listed, err = adm.ListEndOffsets(ctx, topic)
	} else {
		listed, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	for p, lo := range listed[topic] {
		if lo.Err != nil && p < 0 { // the topic itself
			return nil, fmt.Errorf("topic %s: %w", topic, lo.Err)
		}
		if lo.Err != nil {
			return nil, fmt.Errorf("list offsets of %s partition %d: %w", topic, p, lo.Err)
		}
		out[p] = lo.Offset
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	return out, nil
}
