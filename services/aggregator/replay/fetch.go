package replay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// open starts the consumer of the partitions still to read, at offsets,
// outside any consumer group.
func (r *replayer) open(offsets map[int32]kgo.Offset) error {
	cl, err := kgo.NewClient(append(slices.Clone(r.o.Kafka),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.state.Topic: offsets}),
		// Transaction markers take offsets too: seeing them is how a
		// partition ending in one is known to be done.
		kgo.KeepControlRecords(),
		// Records deleted by retention since the range was resolved are
		// gone: carry on from the oldest one left.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	r.cl = cl
	return nil
}

// batchWait is how long a batch waits for more records once the fetched
// ones are used up: replayed records are all there, so a pause means the
// buffer is empty, not that more are about to be produced.
const batchWait = 100 * time.Millisecond

// collect reads up to BatchMaxRecords records of the partitions still being
// read, stopping each partition at its end offset.
func (r *replayer) collect(ctx context.Context) []*kgo.Record {
	var recs []*kgo.Record
	stalled := time.Now()
	for len(recs) < r.o.BatchMaxRecords && len(r.fetching) > 0 {
		wait := r.o.Stall
		if len(recs) > 0 {
			wait = batchWait
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := r.cl.PollRecords(pctx, r.o.BatchMaxRecords-len(recs))
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.o.Log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		got := 0
		var ended []int32
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			ps := r.fetching[fp.Partition]
			if ps == nil || fp.Topic != r.state.Topic {
				return
			}
			for _, rec := range fp.Records {
				if rec.Offset >= ps.End {
					ended = append(ended, fp.Partition)
					return
				}
				recs = append(recs, rec)
				got++
				if rec.Offset == ps.End-1 {
					ended = append(ended, fp.Partition)
					return
				}
			}
		})
		if len(ended) > 0 {
			for _, p := range ended {
				delete(r.fetching, p)
			}
			r.cl.RemoveConsumePartitions(map[string][]int32{r.state.Topic: ended})
		}
		if got > 0 || len(ended) > 0 {
			stalled = time.Now()
			continue
		}
		if len(recs) > 0 {
			return recs
		}
		if time.Since(stalled) >= r.o.Stall {
			for _, p := range slices.Sorted(maps.Keys(r.fetching)) {
				ps := r.fetching[p]
				r.o.Log.Warn("no records for a while; still waiting", "partition", p, "next", ps.Next, "end", ps.End,
					"waited", time.Since(stalled).Round(time.Second))
			}
			stalled = time.Now()
		}
	}
	return recs
}
