package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// Batching cuts batches by size and time.
type Batching struct {
	// MaxRecords caps a batch.
	MaxRecords int
	// MaxWait is how long a batch may wait for more records once it has one.
	MaxWait time.Duration
	// Progress, when set, is kept up to date: the lag of the consumer's
	// partitions, the batch in hand, and whether the consumer is stalled.
	Progress *Progress
}

// ConsumeBatches collects batches of up to b.MaxRecords records, waiting at
// most b.MaxWait after the first, from a client made with GroupOptions; hands
// each batch to handle and commits its offsets only after handle succeeded,
// until ctx ends. Because rebalances wait for the current batch, partitions
// are never revoked with work half done.
func ConsumeBatches(ctx context.Context, cl *kgo.Client, log *slog.Logger, b Batching, handle BatchHandler) error {
	if b.Progress != nil {
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { b.Progress.watch(wctx, cl, log) })
		defer wg.Wait()
		defer stop()
	}
	for {
		recs := collect(ctx, cl, log, b)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		if b.Progress != nil {
			b.Progress.begin(recs)
		}
		err := handle(ctx, recs)
		if b.Progress != nil {
			b.Progress.end()
		}
		if err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil // shutting down: the batch is redelivered later
			}
			return err
		}
		// The side effects are durable: commit even if shutdown has begun.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = cl.CommitRecords(cctx, recs...)
		cancel()
		cl.AllowRebalance()
		if err != nil {
			// Not fatal: the batch is redelivered and its writes are idempotent.
			log.Warn("commit failed; batch will be redelivered", "records", len(recs), "err", err)
		}
	}
}

// collect polls until the batch is full, MaxWait has passed since its first
// record, or ctx ends.
func collect(ctx context.Context, cl *kgo.Client, log *slog.Logger, b Batching) []*kgo.Record {
	var recs []*kgo.Record
	pollCtx := ctx
	for len(recs) < b.MaxRecords {
		fetches := cl.PollRecords(pollCtx, b.MaxRecords-len(recs))
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return recs
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		got := fetches.Records()
		if len(got) == 0 && len(recs) == 0 {
			// A poll that brought only errors (the group lost its broker:
			// an injected fetch error) still blocks rebalances until
			// AllowRebalance: return, so the caller allows the rejoin that
			// the next records wait for, instead of polling forever with
			// the new assignment held back.
			return nil
		}
		if len(got) > 0 && len(recs) == 0 && b.MaxWait > 0 {
			var cancel context.CancelFunc
			pollCtx, cancel = context.WithTimeout(ctx, b.MaxWait)
			defer cancel()
		}
		recs = append(recs, got...)
		if len(recs) > 0 && (b.MaxWait <= 0 || pollCtx.Err() != nil) {
			return recs
		}
	}
	return recs
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
