// Package outbox decouples probing from Kafka: Put never blocks. Records wait
// in a bounded memory queue; when that is full (Kafka slow or unreachable)
// they go to a spool on disk, and everything is sent in the order it was put
// once Kafka takes records again. Only when the spool reaches its size limit
// are the oldest records dropped, and each drop is counted.
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
}

// Open opens the outbox, picking up records a previous process spooled.
// onDrop is told about records lost to the size limit or a disk error.
func Open(cfg Config, onDrop func(n int, err error)) (*Outbox, error) {
	if cfg.MemoryRecords < 1 || cfg.Batch < 1 || cfg.SegmentBytes < 1 || cfg.MaxSpoolBytes < cfg.SegmentBytes {
		return nil, fmt.Errorf("outbox: invalid sizes %+v", cfg)
	}
	sp, err := openSpool(cfg.Dir, cfg.SegmentBytes, cfg.MaxSpoolBytes)
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

// next returns the oldest records, from memory first (they are older than
// anything spooled), then from the spool.
func (o *Outbox) next() (recs []Record, fromSpool bool, spoolNext int64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.mem) > 0 {
		n := min(len(o.mem), o.cfg.Batch)
		return append([]Record(nil), o.mem[:n]...), false, 0, nil
	}
	recs, spoolNext, err = o.spool.peek(o.cfg.Batch)
	return recs, true, spoolNext, err
}

func (o *Outbox) done(n int, fromSpool bool, spoolNext int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !fromSpool {
		o.mem = o.mem[n:]
		return nil
	}
	return o.spool.advance(spoolNext, n)
}

// Send delivers records; it returns only when they are durable in Kafka, or
// an error (then they are sent again).
type Send func(ctx context.Context, recs []Record) error

// Run sends queued records in order until ctx is done, retrying a failed
// batch after backoff (it stays at the head of the queue).
func (o *Outbox) Run(ctx context.Context, send Send, backoff time.Duration) error {
	return o.send(ctx, send, backoff, false)
}

// Flush sends until the queue is empty or ctx is done.
func (o *Outbox) Flush(ctx context.Context, send Send, backoff time.Duration) error {
	if err := o.send(ctx, send, backoff, true); err != nil {
		return err
	}
	if st := o.Stats(); st.Memory+st.Spooled > 0 {
		return fmt.Errorf("outbox: %d records not sent: %w", st.Memory+st.Spooled, context.Cause(ctx))
	}
	return nil
}

func (o *Outbox) send(ctx context.Context, send Send, backoff time.Duration, untilEmpty bool) error {
	delay := backoff
	for {
		recs, fromSpool, next, err := o.next()
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			if untilEmpty {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-o.wake:
				continue
			}
		}
		if err := send(ctx, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			delay = min(delay*2, 5*time.Second)
			continue
		}
		delay = backoff
		if err := o.done(len(recs), fromSpool, next); err != nil {
			return err
		}
	}
}

// Close moves what is still in memory to the spool, ahead of what is
// already spooled (it is older), so a restart sends it first; then it closes
// the spool.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.spool.prepend(o.mem)
	o.mem = nil
	return errors.Join(err, o.spool.close())
}
