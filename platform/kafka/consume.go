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
	// Flush, when set, defers commits to work done off the consuming path
	// (rollups rebuilt for many batches at once). At most FlushEvery after
	// the oldest batch not yet flushed was handled, ConsumeBatches calls
	// Flush in the consuming goroutine, where it takes what the batches
	// handled so far left to do, and runs the function it returns in
	// another goroutine while the next batches are handled (one at a time).
	// When that returns nil, the offsets of the batches handled before
	// Flush was called are committed (once released, when Hold holds
	// them); an error stops ConsumeBatches as a
	// handler's does. What a crash or a rebalance leaves unflushed is
	// redelivered, uncommitted, and the handler's writes being idempotent,
	// the redelivery redoes it.
	Flush func() func(ctx context.Context) error
	// FlushEvery bounds how long offsets wait for a Flush (Flush set).
	FlushEvery time.Duration
	// FlushDue, when set, is asked after each batch whether what the
	// batches handled since the last Flush left to do should be flushed now
	// rather than FlushEvery after the oldest of them (Flush set); inFlight
	// says a flush is in the air. When it is and FlushDue says so, the
	// consumer waits for that flush to land before it takes more records:
	// what waits for a flush stays bounded.
	FlushDue func(inFlight bool) bool
	// Revocations, when set, keeps the offsets of partitions revoked while
	// their batches waited for a Flush from being committed (Flush set).
	Revocations *Revocations
	// Hold, when set, is asked as each Flush lands whether part of what its
	// batches caused is still to be made durable by the caller, off the
	// flush (work a backlog defers to do once for many flushes): nil if
	// not, else a channel closed once it is. The batches' offsets are then
	// committed once it is closed, and never before those of an earlier
	// flush held longer. While a flush's batches are held, a consumer
	// that polls nothing calls Flush once again (with nothing new to
	// flush), so that the caller can finish the deferred work when the
	// backlog ends; at shutdown, what is still held after the last Flush is
	// not committed but redelivered.
	Hold func() <-chan struct{}
}

// heldGroup is the records of a landed flush whose commit waits for
// released (nil: only for the groups before it).
type heldGroup struct {
	recs     []heldRecord
	released <-chan struct{}
}

// releasedPrefix returns the records of the leading groups whose release
// came, in order, and the groups still held.
func releasedPrefix(groups []heldGroup) ([]heldRecord, []heldGroup) {
	var recs []heldRecord
	for len(groups) > 0 {
		if ch := groups[0].released; ch != nil {
			select {
			case <-ch:
			default:
				return recs, groups
			}
		}
		recs = append(recs, groups[0].recs...)
		groups = groups[1:]
	}
	return recs, nil
}

// newest are the newest record of each partition among recs, of its latest
// revocation count.
func newest(recs []heldRecord) []heldRecord {
	by := map[topicPartition]heldRecord{}
	for _, h := range recs {
		tp := topicPartition{h.rec.Topic, h.rec.Partition}
		if last, ok := by[tp]; !ok || h.epoch > last.epoch || h.epoch == last.epoch && h.rec.Offset > last.rec.Offset {
			by[tp] = h
		}
	}
	out := make([]heldRecord, 0, len(by))
	for _, h := range by {
		out = append(out, h)
	}
	return out
}

// heldOffsets are the newest record handled of each partition: what a
// commit of everything handled needs, without holding every record.
type heldOffsets map[topicPartition]heldRecord

// heldRecord is a handled record and its partition's revocation count when
// it was handled.
type heldRecord struct {
	rec   *kgo.Record
	epoch uint64
}

func (h heldOffsets) add(recs []*kgo.Record, rv *Revocations) heldOffsets {
	if h == nil {
		h = heldOffsets{}
	}
	for _, r := range recs {
		tp := topicPartition{r.Topic, r.Partition}
		if last, ok := h[tp]; !ok || r.Offset > last.rec.Offset {
			h[tp] = heldRecord{r, rv.epoch(tp)}
		}
	}
	return h
}

func (h heldOffsets) records() []heldRecord {
	out := make([]heldRecord, 0, len(h))
	for _, r := range h {
		out = append(out, r)
	}
	return out
}

// Revocations counts the times each partition was revoked from or lost by
// a consumer, so that ConsumeBatches never commits an offset handled before
// a revocation: a flush landing after the partition moved would commit over
// what its new owner committed since, moving the group back. Call Revoked
// from the client's OnPartitionsRevoked and OnPartitionsLost, and give it
// in Batching. The nil Revocations counts nothing.
type Revocations struct {
	mu sync.Mutex
	n  map[topicPartition]uint64
}

// NewRevocations returns an empty Revocations.
func NewRevocations() *Revocations { return &Revocations{n: map[topicPartition]uint64{}} }

// Revoked records that the partitions of m (topic → partitions) left this
// consumer.
func (r *Revocations) Revoked(m map[string][]int32) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range m {
		for _, p := range parts {
			r.n[topicPartition{topic, p}]++
		}
	}
}

func (r *Revocations) epoch(tp topicPartition) uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[tp]
}

// current is the records of held whose partitions stayed with this consumer
// since they were handled.
func (r *Revocations) current(held []heldRecord) []*kgo.Record {
	out := make([]*kgo.Record, 0, len(held))
	for _, h := range held {
		if r.epoch(topicPartition{h.rec.Topic, h.rec.Partition}) == h.epoch {
			out = append(out, h.rec)
		}
	}
	return out
}

// shutdownGrace is how long a flush may go on once shutdown began.
const shutdownGrace = 10 * time.Second

// flight is a Flush running, and the records it makes committable.
type flight struct {
	recs []heldRecord
	// landed is closed when the flush returned (err is then set); ctx is
	// done then, or when the consumer's context is (to wake its poll).
	landed chan struct{}
	ctx    context.Context
	err    error
}

func (f *flight) hasLanded() bool {
	select {
	case <-f.landed:
		return true
	default:
		return false
	}
}

// ConsumeBatches collects batches of up to b.MaxRecords records, waiting at
// most b.MaxWait after the first while behind, from a client made with
// GroupOptions; hands each batch to handle and commits its offsets only
// after handle (and b.Flush, when set) succeeded, until ctx ends. Because
// rebalances wait for the current batch, partitions are never revoked with
// a batch half handled.
func ConsumeBatches(ctx context.Context, cl *kgo.Client, log *slog.Logger, b Batching, handle BatchHandler) error {
	if b.Progress != nil {
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { b.Progress.watch(wctx, cl, log) })
		defer wg.Wait()
		defer stop()
	}
	var (
		held     heldOffsets // handled, not in a flush yet
		heldAt   time.Time   // when the oldest of them was handled
		inflight *flight
		waiting  []heldGroup // flushed, their commit held (b.Hold)
		idle     bool        // the last poll brought nothing
		// idleFlushed is set once an idle consumer flushed for what is
		// held, until records come again: one such flush per idle spell.
		idleFlushed bool
	)
	// release commits the records of the groups released, in order.
	release := func() {
		var recs []heldRecord
		recs, waiting = releasedPrefix(waiting)
		commit(ctx, cl, log, b.Revocations.current(newest(recs)))
	}
	start := func() {
		run := b.Flush()
		fctx, done := context.WithCancel(ctx)
		f := &flight{recs: held.records(), ctx: fctx, landed: make(chan struct{})}
		held, inflight = nil, f
		// At shutdown the flush gets a few seconds to finish, so that a
		// clean stop commits what it handled; past them it ends with an
		// error, and nothing it covers is committed.
		rctx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, cancelRun) })
		go func() {
			defer done()
			defer cancelRun()
			defer stop()
			f.err = run(rctx)
			close(f.landed)
		}()
	}
	// land waits for the flight and commits its records, or returns its error.
	land := func() error {
		<-inflight.landed
		f := inflight
		inflight = nil
		if f.err != nil {
			return f.err
		}
		if b.Progress != nil {
			b.Progress.flushed()
		}
		var hold <-chan struct{}
		if b.Hold != nil {
			hold = b.Hold()
		}
		if hold == nil && len(waiting) == 0 {
			commit(ctx, cl, log, b.Revocations.current(f.recs))
			return nil
		}
		waiting = append(waiting, heldGroup{recs: f.recs, released: hold})
		release()
		return nil
	}
	defer func() {
		if inflight != nil {
			<-inflight.landed
		}
	}()
	for {
		if inflight != nil && inflight.hasLanded() {
			if err := land(); err != nil {
				cl.AllowRebalance()
				return err
			}
		}
		if len(waiting) > 0 {
			release()
		}
		if b.Flush != nil && inflight == nil && len(held) == 0 && len(waiting) > 0 && idle && !idleFlushed {
			idleFlushed = true
			start() // a backlog ended: what its flushes deferred is finished
		}
		if b.Flush != nil && len(held) > 0 {
			due := b.FlushDue != nil && b.FlushDue(inflight != nil)
			if due && inflight != nil {
				if err := land(); err != nil {
					cl.AllowRebalance()
					return err
				}
			}
			if inflight == nil && (due || time.Since(heldAt) >= b.FlushEvery) {
				start()
			}
		}
		wake := ctx // while nothing came: stop waiting for records when
		var cancelWake context.CancelFunc = func() {}
		switch {
		case inflight != nil:
			wake = inflight.ctx // the flight lands,
		case len(held) > 0:
			wake, cancelWake = context.WithDeadline(ctx, heldAt.Add(b.FlushEvery)) // or the next is due,
		case len(waiting) > 0:
			wake, cancelWake = context.WithTimeout(ctx, idleWait(b)) // or, held, it is idle
		}
		recs := collect(ctx, wake, cl, log, b)
		cancelWake()
		if ctx.Err() != nil {
			return shutdown(ctx, cl, log, b, inflight, held.records(), waiting)
		}
		// Idle: nothing came in a wait of its own (not one a landing
		// flight cut short).
		idle = len(recs) == 0 && inflight == nil
		if len(recs) > 0 {
			idleFlushed = false
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
		if b.Flush == nil {
			commit(ctx, cl, log, recs)
		} else {
			if len(held) == 0 {
				heldAt = time.Now()
			}
			held = held.add(recs, b.Revocations)
		}
		cl.AllowRebalance()
	}
}

// idleWait is how long a consumer whose flushed batches are held polls
// before it counts as idle.
func idleWait(b Batching) time.Duration {
	return min(max(b.MaxWait, 10*time.Millisecond), b.FlushEvery)
}

// shutdown lands the flight in the air and flushes and commits what was
// handled since, if that can be done in a few seconds; else it is
// redelivered later. So is what is held (Batching.Hold) after that flush.
func shutdown(ctx context.Context, cl *kgo.Client, log *slog.Logger, b Batching, inflight *flight, held []heldRecord, waiting []heldGroup) error {
	defer cl.AllowRebalance()
	hold := func(recs []heldRecord) {
		var ch <-chan struct{}
		if b.Hold != nil {
			ch = b.Hold()
		}
		waiting = append(waiting, heldGroup{recs: recs, released: ch})
	}
	defer func() {
		recs, rest := releasedPrefix(waiting)
		commit(ctx, cl, log, b.Revocations.current(newest(recs)))
		if len(rest) > 0 {
			log.Info("offsets held for deferred work not committed at shutdown; those batches will be redelivered", "flushes", len(rest))
		}
	}()
	if inflight != nil {
		<-inflight.landed
		if inflight.err != nil {
			log.Warn("flush failed at shutdown; its batches will be redelivered", "partitions", len(inflight.recs)+len(held), "err", inflight.err)
			waiting = nil
			return nil
		}
		hold(inflight.recs)
	}
	if _, stillHeld := releasedPrefix(waiting); len(held) == 0 && len(stillHeld) == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := b.Flush()(fctx); err != nil {
		log.Warn("flush failed at shutdown; its batches will be redelivered", "partitions", len(held), "err", err)
		waiting = nil
		return nil
	}
	hold(held)
	return nil
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
// while the batch is empty, until wake is done.
func collect(ctx, wake context.Context, cl *kgo.Client, log *slog.Logger, b Batching) []*kgo.Record {
	var recs []*kgo.Record
	pollCtx := wake
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
			// Woken with nothing, or a poll that brought only errors (the
			// group lost its broker): return either way. A poll still blocks
			// rebalances until AllowRebalance, so polling on here would hold
			// back the rejoin that the next records wait for.
			return nil
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
