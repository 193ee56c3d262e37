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
	// MaxWait is how long a batch may wait for more records once it has one,
	// while the consumer is behind. A consumer caught up (every partition of
	// the batch read to its end as the fetch saw it) hands the batch over as
	// soon as the fetch returns: nothing more is there to wait for, and
	// waiting would only delay what the records cause (an alert).
	MaxWait time.Duration
	// Progress, when set, is kept up to date: the lag of the consumer's
	// partitions, the batch in hand, and whether the consumer is stalled.
	Progress *Progress
	// Flush, when set, defers commits: a handled batch's offsets are held
	// until Flush has made durable whatever the handler left for it (rows
	// inserted in bulk, rollups rebuilt), which ConsumeBatches calls at most
	// FlushEvery after the oldest held batch was handled (waiting for no
	// record to do so), and on shutdown. No rebalance happens while offsets
	// are held, so a partition is never given away with work undone; a
	// crash redelivers what was held, and the handler's writes being
	// idempotent, the redelivery redoes it.
	Flush func(ctx context.Context) error
	// FlushEvery bounds how long offsets are held (Flush set).
	FlushEvery time.Duration
}

// ConsumeBatches collects batches of up to b.MaxRecords records, waiting at
// most b.MaxWait after the first while behind, from a client made with
// GroupOptions; hands each batch to handle and commits its offsets only
// after handle (and b.Flush, when set) succeeded, until ctx ends. Because
// rebalances wait for the current batch (and the held ones), partitions are
// never revoked with work half done.
func ConsumeBatches(ctx context.Context, cl *kgo.Client, log *slog.Logger, b Batching, handle BatchHandler) error {
	if b.Progress != nil {
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { b.Progress.watch(wctx, cl, log) })
		defer wg.Wait()
		defer stop()
	}
	var (
		held    []*kgo.Record
		heldAt  time.Time // when the oldest held batch was handled
		release = func(ctx context.Context) error {
			if b.Flush != nil && len(held) > 0 {
				if err := b.Flush(ctx); err != nil {
					return err
				}
			}
			commit(ctx, cl, log, held)
			held = held[:0]
			cl.AllowRebalance()
			return nil
		}
	)
	for {
		var due time.Time
		if len(held) > 0 {
			due = heldAt.Add(b.FlushEvery)
		}
		recs := collect(ctx, cl, log, b, due)
		if ctx.Err() != nil {
			// Shutting down: what was handled is made durable and committed
			// if it can be in a few seconds; else it is redelivered later.
			if len(held) > 0 {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				err := release(fctx)
				cancel()
				if err != nil {
					log.Warn("flush at shutdown failed; the held batches will be redelivered", "records", len(held), "err", err)
				}
			}
			cl.AllowRebalance()
			return nil
		}
		if len(recs) > 0 {
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
			if len(held) == 0 {
				heldAt = time.Now()
			}
			held = append(held, recs...)
		}
		if b.Flush != nil && len(held) > 0 && time.Since(heldAt) < b.FlushEvery {
			continue // rebalances wait for the held batches' flush
		}
		if err := release(ctx); err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// commit commits recs' offsets once their side effects are durable, even if
// shutdown has begun.
func commit(ctx context.Context, cl *kgo.Client, log *slog.Logger, recs []*kgo.Record) {
	if len(recs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err := cl.CommitRecords(cctx, recs...)
	cancel()
	if err != nil {
		// Not fatal: the batch is redelivered and its writes are idempotent.
		log.Warn("commit failed; batch will be redelivered", "records", len(recs), "err", err)
	}
}

// collect polls until the batch is full, every partition it read from is
// caught up, MaxWait has passed since its first record, or ctx ends; and,
// while the batch is empty, until due (when set).
func collect(ctx context.Context, cl *kgo.Client, log *slog.Logger, b Batching, due time.Time) []*kgo.Record {
	var recs []*kgo.Record
	pollCtx := ctx
	if !due.IsZero() {
		var cancel context.CancelFunc
		pollCtx, cancel = context.WithDeadline(ctx, due)
		defer cancel()
	}
	// behind are the partitions of the batch not read to their end.
	behind := map[topicPartition]bool{}
	waiting := false
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
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				tp := topicPartition{p.Topic, p.Partition}
				if p.Records[n-1].Offset+1 < p.HighWatermark {
					behind[tp] = true
				} else {
					delete(behind, tp)
				}
			}
		})
		got := fetches.Records()
		recs = append(recs, got...)
		if len(recs) == 0 {
			if pollCtx.Err() != nil {
				return nil // due: nothing came
			}
			continue
		}
		if b.MaxWait <= 0 || len(behind) == 0 {
			return recs // caught up: nothing to wait for
		}
		if !waiting {
			waiting = true
			var cancel context.CancelFunc
			pollCtx, cancel = context.WithTimeout(ctx, b.MaxWait)
			defer cancel()
		}
		if pollCtx.Err() != nil {
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
