package kafka

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadToEnd reads topic with cl from each partition's start to the end
// offset it has when called, handing fn every record in offset order within a
// partition: the way to load the state a compacted topic holds. Partitions
// that hold nothing (empty, or every record deleted) are not waited for. cl
// must not already consume topic; it does not afterwards.
func ReadToEnd(ctx context.Context, cl *kgo.Client, topic string, fn func(*kgo.Record)) error {
	_, err := readToEnd(ctx, cl, topic, fn)
	return err
}

// readToEnd is ReadToEnd that also returns the end offset it read each
// partition to.
func readToEnd(ctx context.Context, cl *kgo.Client, topic string, fn func(*kgo.Record)) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	want := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	reached := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		reached[o.Partition] = o.Offset
		start, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > start.Offset {
			want[o.Partition] = kgo.NewOffset().AtStart()
			remaining[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return reached, nil
	}
	parts := make([]int32, 0, len(want))
	for p := range want {
		parts = append(parts, p)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: want})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: parts})
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || r.Topic != topic || r.Offset >= end {
				return // past the end taken at the start
			}
			fn(r)
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return reached, nil
}

// LatestByKey reads topic from its start to the end offsets it has now and
// returns the last record of every key (a tombstone too): the state a
// compacted topic holds. It uses its own client, outside any consumer group.
func LatestByKey(ctx context.Context, c Config, log *slog.Logger, topic string) (map[string]*kgo.Record, error) {
	latest := map[string]*kgo.Record{}
	if err := ReadAll(ctx, c, log, topic, func(r *kgo.Record) { latest[string(r.Key)] = r }); err != nil {
		return nil, err
	}
	return latest, nil
}

// ReadAll is ReadToEnd with its own client, outside any consumer group.
func ReadAll(ctx context.Context, c Config, log *slog.Logger, topic string, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(c.ClientOptions(log)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return ReadToEnd(ctx, cl, topic, fn)
}
