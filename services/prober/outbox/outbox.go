// Package outbox decouples probing from Kafka: Put never blocks. Records wait
// in a bounded memory queue; when that is full (Kafka slow or unreachable)
// they go to a spool on disk, and everything is sent in the order it was put
// once Kafka takes records again. Only when the spool reaches its size limit
// are the oldest records dropped (never the batch being sent), and each drop
// is counted; so are the records of a spool segment found damaged. It never
// stops sending while its context lives: failures are retried and reported.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Record is one keyed message.
type Record struct {
	Key, Value  []byte
	TimestampMS int64
}

// Config sizes the outbox.
type Config struct {
	// Dir holds the spool.
	Dir string
	// MemoryRecords is the memory queue's capacity.
	MemoryRecords int
	// MaxSpoolBytes caps the spool; beyond it the oldest records are dropped.
	MaxSpoolBytes int64
	// SegmentBytes is the size of one spool file.
	SegmentBytes int64
	// Batch is the most records handed to send at once.
	Batch int
	// OnError, when set, is told about every failed spool read or removal
	// (send errors are the Send function's to report).
	OnError func(err error)
}

// Stats are the outbox's gauges and counters.
type Stats struct {
	Memory, Spooled int
	SpoolBytes      int64
	Dropped         uint64
}

// Outbox is the queue between the probes and Kafka.
type Outbox struct {
	cfg    Config
	mu     sync.Mutex
	mem    []Record
	spool  *spool
	drops  uint64
	wake   chan struct{}
	onDrop func(n int, err error)
	// inflight is the batch being sent: it is retried as it is until Kafka
	// takes it, so a spool segment dropped meanwhile cannot lose or shift it.
	inflight *batch
	// failingSince is when sending or reading the spool started failing; zero
	// while records go through.
	failingSince time.Time
	lastErr      error
}

// batch is records handed to send, and where they came from.
type batch struct {
	// first is when it was first handed to send.
	first     time.Time
	recs      []Record
	fromSpool bool
	read      spoolRead
}

// Open opens the outbox, picking up records a previous process spooled.
// onDrop is told about records lost to the size limit, a disk error or a
// corrupt spool segment.
func Open(cfg Config, onDrop func(n int, err error)) (*Outbox, error) {
	if cfg.MemoryRecords < 1 || cfg.Batch < 1 || cfg.SegmentBytes < 1 || cfg.MaxSpoolBytes < cfg.SegmentBytes {
		return nil, fmt.Errorf("outbox: invalid sizes %+v", cfg)
	}
	sp, err := openSpool(cfg.Dir, cfg.SegmentBytes, cfg.MaxSpoolBytes, cfg.OnError)
	if err != nil {
		return nil, err
	}
	return &Outbox{cfg: cfg, spool: sp, wake: make(chan struct{}, 1), onDrop: onDrop}, nil
}

// Put queues a record. It never blocks on Kafka.
func (o *Outbox) Put(r Record) {
	o.mu.Lock()
	var dropped int
	var err error
	// Once anything is spooled, new records queue behind it, keeping order.
	if o.spool.empty() && len(o.mem) < o.cfg.MemoryRecords {
		o.mem = append(o.mem, r)
	} else {
		dropped, err = o.spool.append(r)
		if err != nil {
			dropped++ // this record could not be kept
		}
	}
	o.drops += uint64(dropped)
	o.mu.Unlock()
	if dropped > 0 && o.onDrop != nil {
		o.onDrop(dropped, err)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Stats reports the queue depths.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{Memory: len(o.mem), Spooled: o.spool.count, SpoolBytes: o.spool.bytes, Dropped: o.drops}
}

// Failing reports since when sending has been failing and the last error;
// a zero time while records go through (or nothing is queued).
func (o *Outbox) Failing() (since time.Time, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failingSince, o.lastErr
}

// Stalled reports since when the queue's head has not moved: the first
// attempt of the batch being sent (a send may hang while Kafka is away, or
// fail and be retried) or the first of the failures before it. Zero when
// nothing waits. err is the last failure, if any.
func (o *Outbox) Stalled() (since time.Time, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	since = o.failingSince
	if b := o.inflight; b != nil && (since.IsZero() || b.first.Before(since)) {
		since = b.first
	}
	return since, o.lastErr
}

func (o *Outbox) failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failingSince.IsZero() {
		o.failingSince = time.Now()
	}
	o.lastErr = err
}

func (o *Outbox) recovered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failingSince, o.lastErr = time.Time{}, nil
}

// next returns the batch to send: the one in flight if its send failed,
// else the oldest records, from memory first (they are older than anything
// spooled), then from the spool. A corrupt spool segment is set aside
// (renamed *.corrupt, its unsent records counted as dropped) so the records
// after it still go out.
func (o *Outbox) next() (*batch, error) {
	o.mu.Lock()
	if o.inflight != nil {
		defer o.mu.Unlock()
		return o.inflight, nil
	}
	if len(o.mem) > 0 {
		defer o.mu.Unlock()
		n := min(len(o.mem), o.cfg.Batch)
		o.inflight = &batch{first: time.Now(), recs: append([]Record(nil), o.mem[:n]...)}
		return o.inflight, nil
	}
	recs, read, err := o.spool.peek(o.cfg.Batch)
	var lost int
	if errors.Is(err, errCorrupt) {
		var qerr error
		lost, qerr = o.spool.setAsideOldest()
		o.drops += uint64(lost)
		err = errors.Join(err, qerr)
	}
	if err == nil && len(recs) > 0 {
		o.inflight = &batch{first: time.Now(), recs: recs, fromSpool: true, read: read}
	}
	b := o.inflight
	o.mu.Unlock()
	if lost > 0 && o.onDrop != nil {
		o.onDrop(lost, err)
	}
	return b, err
}

// done removes a sent batch from the queue.
func (o *Outbox) done(b *batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inflight = nil
	if !b.fromSpool {
		o.mem = o.mem[len(b.recs):]
		return nil
	}
	return o.spool.advance(b.read)
}

// Send delivers records; it returns only when they are durable in Kafka, or
// an error (then they are sent again). A failed batch is handed again as it
// is, the same slice, until it is sent, so a Send may recognise a retry.
type Send func(ctx context.Context, recs []Record) error

// Run sends queued records in order until ctx is done. A failed batch stays
// at the head of the queue and is retried after backoff (doubling up to 5s),
// as is a failed spool read: Run never gives up while ctx lives. Failures
// show in Failing until records go through again.
func (o *Outbox) Run(ctx context.Context, send Send, backoff time.Duration) {
	o.send(ctx, send, backoff, false)
}

// Flush sends until the queue is empty or ctx is done.
func (o *Outbox) Flush(ctx context.Context, send Send, backoff time.Duration) error {
	o.send(ctx, send, backoff, true)
	if st := o.Stats(); st.Memory+st.Spooled > 0 {
		_, last := o.Failing()
		return fmt.Errorf("outbox: %d records not sent: %w", st.Memory+st.Spooled, errors.Join(context.Cause(ctx), last))
	}
	return nil
}

// maxBackoff bounds the wait between two attempts.
const maxBackoff = 5 * time.Second

func (o *Outbox) send(ctx context.Context, send Send, backoff time.Duration, untilEmpty bool) {
	delay := backoff
	// retry records the failure and waits before the next attempt; false
	// once ctx is done.
	retry := func(err error) bool {
		o.failed(err)
		if ctx.Err() != nil {
			return false
		}
		t := time.NewTimer(delay)
		defer t.Stop()
		delay = min(delay*2, maxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		b, err := o.next()
		if err != nil {
			if o.cfg.OnError != nil {
				o.cfg.OnError(err)
			}
			if errors.Is(err, errCorrupt) {
				// Set aside already; what follows it is readable.
				o.failed(err)
				continue
			}
			if !retry(err) {
				return
			}
			continue
		}
		if b == nil {
			o.recovered()
			if untilEmpty {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		if err := send(ctx, b.recs); err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		if err := o.done(b); err != nil {
			// The batch is in Kafka; only removing its segment failed.
			if o.cfg.OnError != nil {
				o.cfg.OnError(err)
			}
			o.failed(err)
			continue
		}
		delay = backoff
		o.recovered()
	}
}

// Close moves what is still in memory to the spool, ahead of what is
// already spooled (it is older), so a restart sends it first; then it closes
// the spool. A batch in flight whose segment was dropped meanwhile exists
// only in memory: it goes first.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	recs := o.mem
	if b := o.inflight; b != nil && b.fromSpool && o.spool.detached(b.read) {
		recs = append(append([]Record(nil), b.recs...), o.mem...)
		o.spool.forget(b.read)
	}
	o.inflight = nil
	err := o.spool.prepend(recs)
	o.mem = nil
	return errors.Join(err, o.spool.close())
}
