package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Compacted is the state a compacted topic holds — the newest value of
// every key, decoded — read to its end by Load and then followed by Run,
// so a record written is seen within a fetch. A record whose value does
// not decode, like a tombstone, removes its key: what readers see is "no
// such key", as a prober refusing that definition would have it. A topic
// that does not exist yet holds nothing. The zero Compacted is not usable:
// see NewCompacted.
type Compacted[T any] struct {
	cfg    Config
	topic  string
	log    *slog.Logger
	retry  time.Duration
	decode func(key string, value []byte) (T, error)

	mu     sync.RWMutex
	byKey  map[string]T
	loaded bool
}

// NewCompacted returns the state of topic, with values made by decode;
// after a failed read, Run tries again every retry.
func NewCompacted[T any](c Config, topic string, log *slog.Logger, retry time.Duration, decode func(key string, value []byte) (T, error)) *Compacted[T] {
	return &Compacted[T]{cfg: c, topic: topic, log: log, retry: retry, decode: decode, byKey: map[string]T{}}
}

// Get is key's value; false when the topic does not hold it (or was not
// read yet).
func (c *Compacted[T]) Get(key string) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.byKey[key]
	return v, ok
}

// Each calls f with every key the topic holds and its value, under the
// read lock: f must not call back into c.
func (c *Compacted[T]) Each(f func(key string, v T)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, v := range c.byKey {
		f(k, v)
	}
}

// Loaded reports whether the topic was read to its end at least once.
func (c *Compacted[T]) Loaded() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.loaded
}

// Load reads the topic to its end, with its own client, and replaces the
// state with what it holds.
func (c *Compacted[T]) Load(ctx context.Context) error {
	_, err := c.load(ctx)
	return err
}

func (c *Compacted[T]) load(ctx context.Context) (map[int32]int64, error) {
	cl, err := kgo.NewClient(c.cfg.ClientOptions(c.log)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	by := map[string]T{}
	ends, err := readToEnd(ctx, cl, c.topic, func(r *kgo.Record) { c.apply(by, r) })
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		ends, err = nil, nil // not created yet: nothing in it
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.byKey, c.loaded = by, true
	c.mu.Unlock()
	return ends, nil
}

// apply is r's change to by.
func (c *Compacted[T]) apply(by map[string]T, r *kgo.Record) {
	key := string(r.Key)
	if r.Value == nil {
		delete(by, key)
		return
	}
	v, err := c.decode(key, r.Value)
	if err != nil {
		delete(by, key)
		return
	}
	by[key] = v
}

// Run keeps the state up to date until ctx ends: it reads the topic to its
// end and follows it from there. A failure is logged and, after the retry
// interval, the topic is read again from its start.
func (c *Compacted[T]) Run(ctx context.Context) {
	for {
		ends, err := c.load(ctx)
		if err == nil {
			err = c.follow(ctx, ends)
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("could not read a compacted topic; using what was read before, trying again", "topic", c.topic, "in", c.retry, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.retry):
		}
	}
}

// follow applies the records written after ends (each partition's offset
// the load reached; nil: from the start, the topic did not exist) until ctx
// ends or a fetch fails.
func (c *Compacted[T]) follow(ctx context.Context, ends map[int32]int64) error {
	opts := c.cfg.ClientOptions(c.log)
	if len(ends) == 0 {
		opts = append(opts, kgo.ConsumeTopics(c.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		from := map[int32]kgo.Offset{}
		for p, o := range ends {
			from[p] = kgo.NewOffset().At(o)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: from}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		c.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) { c.apply(c.byKey, r) })
		c.mu.Unlock()
	}
}
