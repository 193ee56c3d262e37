package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupOptions are the consumer options of a service that must not lose or
// double-process records: auto-commit off, rebalances blocked while a polled
// batch is in flight, the classic cooperative-sticky balancer.
func GroupOptions(group string, topics ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250 * time.Millisecond),
	}
}

// BatchHandler makes a polled batch's side effects durable. It returns an
// error only when it gave up (ctx ended); the batch is then not committed and
// will be delivered again.
type BatchHandler func(ctx context.Context, recs []*kgo.Record) error

// ConsumeBatches polls up to maxRecords at a time from a client made with
// GroupOptions, hands each batch to handle and commits its offsets only after
// handle succeeded, until ctx ends. Because rebalances wait for the current
// batch, partitions are never revoked with work half done.
func ConsumeBatches(ctx context.Context, cl *kgo.Client, log *slog.Logger, maxRecords int, handle BatchHandler) error {
	for {
		fetches := cl.PollRecords(ctx, maxRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		if err := handle(ctx, recs); err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil // shutting down: the batch is redelivered later
			}
			return err
		}
		// The side effects are durable: commit even if shutdown has begun.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := cl.CommitRecords(cctx, recs...)
		cancel()
		cl.AllowRebalance()
		if err != nil {
			// Not fatal: the batch is redelivered and its writes are idempotent.
			log.Warn("commit failed; batch will be redelivered", "records", len(recs), "err", err)
		}
	}
}

// Produce writes recs and waits until Kafka acknowledged all of them.
func Produce(ctx context.Context, cl *kgo.Client, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}
