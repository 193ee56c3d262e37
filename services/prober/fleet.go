package prober

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	"github.com/picket-dev/picket/services/prober/check"
)

// A fleet is the probers of one location sharing that location's checks
// through Kafka, with no coordinator of Picket's own: check definitions live
// on a compacted topic keyed by check id, and the location's probers consume
// it in one consumer group. Each prober runs the checks whose partitions it
// is assigned (and that list its location, or none); when a prober leaves or
// dies, the group hands its partitions, and so its checks, to the others.
// Partitions are always read from the start and offsets never committed: the
// compacted topic is the whole state.

// DefinitionSchema is the schema of check definition records.
var DefinitionSchema = events.Schema{Name: check.DefinitionSchema, Version: 1}

// fleet tracks the definitions of the partitions this prober is assigned.
type fleet struct {
	p  *Prober
	mu sync.Mutex
	// byPartition holds the current definitions of each assigned partition.
	byPartition map[int32]map[string]check.Check
}

// runFleet consumes check definitions until ctx is done, keeping the running
// checks equal to those of the assigned partitions.
func (p *Prober) runFleet(ctx context.Context) error {
	f := &fleet{p: p, byPartition: map[int32]map[string]check.Check{}}
	group := p.cfg.Fleet.GroupPrefix + "-" + p.cfg.Location
	opts := append(p.cfg.Kafka.ClientOptions(p.log),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(p.cfg.Kafka.ChecksTopic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(p.cfg.Fleet.SessionTimeout),
		kgo.RebalanceTimeout(p.cfg.Fleet.RebalanceTimeout),
		kgo.HeartbeatInterval(p.cfg.Fleet.SessionTimeout/5),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { f.drop(ctx, lost) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { f.drop(ctx, lost) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("fleet kafka client: %w", err)
	}
	defer cl.Close()
	p.log.Info("fleet: consuming check definitions", "topic", p.cfg.Kafka.ChecksTopic, "group", group)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, part int32, err error) {
			p.log.Warn("fleet: fetch error", "topic", t, "partition", part, "err", err)
		})
		if fetches.NumRecords() == 0 {
			continue
		}
		f.mu.Lock()
		fetches.EachRecord(f.record)
		f.applyLocked(ctx)
		f.mu.Unlock()
	}
}

// record updates the definitions from one record; a tombstone deletes.
func (f *fleet) record(r *kgo.Record) {
	defs := f.byPartition[r.Partition]
	if defs == nil {
		defs = map[string]check.Check{}
		f.byPartition[r.Partition] = defs
	}
	id := string(r.Key)
	if r.Value == nil {
		delete(defs, id)
		return
	}
	if err := DefinitionSchema.Check(kafka.RecordHeaders(r)); err != nil {
		f.p.log.Error("fleet: skipping check definition", "check", id, "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	c, err := check.UnmarshalDefinition(r.Value)
	if err != nil {
		// Keep running the last good definition rather than stopping the check.
		f.p.log.Error("fleet: invalid check definition; keeping the previous one", "check", id, "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	defs[id] = c
}

// drop forgets the definitions of revoked or lost partitions.
func (f *fleet) drop(ctx context.Context, parts map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ps := range parts {
		for _, part := range ps {
			delete(f.byPartition, part)
		}
	}
	f.applyLocked(ctx)
}

func (f *fleet) applyLocked(ctx context.Context) {
	var want []check.Check
	for _, defs := range f.byPartition {
		for _, c := range defs {
			if c.RunsAt(f.p.cfg.Location) {
				want = append(want, c)
			}
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].ID < want[j].ID })
	started, restarted, stopped := f.p.apply(ctx, want)
	if started+restarted+stopped > 0 {
		f.p.log.Info("fleet: checks updated", "running", len(want), "started", started, "restarted", restarted, "stopped", stopped)
	}
}

// Plan is what Apply changed or would change.
type Plan struct {
	Created, Updated, Deleted, Unchanged []string
}

// Apply publishes checks as the location-independent definitions on the
// checks topic: new and changed ones are written, and with prune, checks no
// longer in the list are deleted (tombstones). With dryRun nothing is written.
func Apply(ctx context.Context, cl *kgo.Client, topic string, checks []check.Check, prune, dryRun bool) (Plan, error) {
	current, err := ReadDefinitions(ctx, cl, topic)
	if err != nil {
		return Plan{}, err
	}
	var plan Plan
	var recs []*kgo.Record
	headers := kafka.Headers(DefinitionSchema)
	for i := range headers {
		if headers[i].Key == events.HeaderContentType {
			headers[i].Value = []byte(check.DefinitionContentType)
		}
	}
	want := map[string]bool{}
	for _, c := range checks {
		want[c.ID] = true
		b, err := check.MarshalDefinition(c)
		if err != nil {
			return Plan{}, fmt.Errorf("check %s: %w", c.ID, err)
		}
		old, exists := current[c.ID]
		switch {
		case !exists:
			plan.Created = append(plan.Created, c.ID)
		case string(old) != string(b):
			plan.Updated = append(plan.Updated, c.ID)
		default:
			plan.Unchanged = append(plan.Unchanged, c.ID)
			continue
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(c.ID), Value: b, Headers: headers})
	}
	if prune {
		for id := range current {
			if !want[id] {
				plan.Deleted = append(plan.Deleted, id)
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(id), Headers: headers})
			}
		}
	}
	for _, l := range [][]string{plan.Created, plan.Updated, plan.Deleted, plan.Unchanged} {
		sort.Strings(l)
	}
	if dryRun {
		return plan, nil
	}
	return plan, kafka.Produce(ctx, cl, recs...)
}

// ReadDefinitions reads the checks topic to its end: check id → definition.
func ReadDefinitions(ctx context.Context, cl *kgo.Client, topic string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := kafka.ReadToEnd(ctx, cl, topic, func(r *kgo.Record) {
		if r.Value == nil {
			delete(out, string(r.Key))
		} else {
			out[string(r.Key)] = r.Value
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read check definitions: %w", err)
	}
	return out, nil
}
