package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/logtest"

	"github.com/picket-dev/picket/platform/poll"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func setup(t *testing.T, n int) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return cluster, cl
}

func committed(t *testing.T, cl *kgo.Client, group string) int64 {
	o, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil { // GROUP_ID_NOT_FOUND until the group first joins
		return 0
	}
	var total int64
	o.Each(func(r kadm.OffsetResponse) { total += r.At })
	return total
}

// Batches are cut at MaxRecords, every record is handled once and in order,
// and the offsets are committed after the handler.
func TestConsumeBatchesCutsBySizeAndCommitsAfterHandling(t *testing.T) {
	cluster, admin := setup(t, 25)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var sizes []int
	var seen []int
	progress := NewProgress(time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 10, MaxWait: 20 * time.Millisecond, Progress: progress},
			func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				defer mu.Unlock()
				sizes = append(sizes, len(recs))
				for _, r := range recs {
					v, _ := strconv.Atoi(string(r.Value))
					seen = append(seen, v)
				}
				return nil
			})
	}()
	poll.Until(t, 10*time.Second, "25 offsets committed", func() (bool, string) {
		n := committed(t, admin, "g")
		return n == 25, fmt.Sprint(n)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 10 {
			t.Fatalf("batch sizes %v exceed 10", sizes)
		}
	}
	for i, v := range seen {
		if v != i {
			t.Fatalf("records handled %v, want 0..24 once each in order", seen)
		}
	}
	if len(seen) != 25 {
		t.Fatalf("handled %d", len(seen))
	}
}

// A handler that gives up stops consumption without committing.
func TestConsumeBatchesCommitsNothingAHandlerGaveUpOn(t *testing.T) {
	cluster, admin := setup(t, 5)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	boom := errors.New("clickhouse refused the rows for good")
	err = ConsumeBatches(context.Background(), consumer, slog.New(slog.NewTextHandler(io.Discard, nil)), Batching{MaxRecords: 10},
		func(context.Context, []*kgo.Record) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if n := committed(t, admin, "g"); n != 0 {
		t.Fatalf("%d offsets committed", n)
	}
}

// A handler that cannot finish its batch is a stalled consumer: Err names
// the partition, the batch and what the handler is retrying, Stalled grows
// past the bound, and the lag counts the records the batch holds (they are
// fetched, not committed). Once the handler finishes, all of it clears.
func TestConsumeBatchesReportsAStuckHandler(t *testing.T) {
	cluster, _ := setup(t, 5)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	progress := NewProgress(300 * time.Millisecond)
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, log, Batching{MaxRecords: 10, Progress: progress},
			func(_ context.Context, recs []*kgo.Record) error {
				progress.Retrying("insert results", errors.New("clickhouse: connection refused"))
				<-release
				return nil
			})
	}()
	poll.Until(t, 10*time.Second, "stalled with 5 records waiting", func() (bool, string) {
		err := progress.Err()
		return err != nil && strings.Contains(err.Error(), "has not advanced") && progress.Lag() == 5 &&
				progress.Stalled() >= 300*time.Millisecond,
			fmt.Sprint(progress.Lag(), progress.Stalled(), progress.Err())
	})
	msg := progress.Err().Error()
	for _, want := range []string{"consumer stalled", "in[0] has not advanced past offset", "5 records waiting",
		"a batch of 5 records from in[0] offset 0", "retrying insert results: clickhouse: connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Err %q does not say %q", msg, want)
		}
	}
	poll.True(t, 10*time.Second, "an error log", func() bool { return strings.Contains(logs.String(), "level=ERROR msg=\"consumer stalled") })
	close(release)
	poll.Until(t, 10*time.Second, "progressing again", func() (bool, string) {
		return progress.Err() == nil && progress.Lag() == 0 && progress.Stalled() == 0, fmt.Sprint(progress.Lag(), progress.Err())
	})
	poll.True(t, 10*time.Second, "a recovery log", func() bool { return strings.Contains(logs.String(), "consumer progressing again") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A flush that keeps failing holds every offset back while the batches go
// on being handled: the stall Err reports names the flush and its error
// (it said only "has not advanced" before), until a flush lands.
func TestConsumeBatchesNamesAFailingFlush(t *testing.T) {
	cluster, _ := setup(t, 5)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	progress := NewProgress(300 * time.Millisecond)
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 10, Progress: progress, FlushEvery: 10 * time.Millisecond,
				Flush: func() func(context.Context) error {
					return func(ctx context.Context) error {
						progress.RetryingFlush("rebuild rollups", errors.New("clickhouse: too many parts"))
						select {
						case <-release:
							return nil
						case <-ctx.Done():
							return ctx.Err()
						}
					}
				}},
			func(context.Context, []*kgo.Record) error { return nil })
	}()
	poll.Until(t, 10*time.Second, "stalled, naming the flush", func() (bool, string) {
		err := progress.Err()
		return err != nil && strings.Contains(err.Error(), "offsets held for a flush retrying rebuild rollups: clickhouse: too many parts") &&
			strings.Contains(err.Error(), "5 records waiting"), fmt.Sprint(progress.Err())
	})
	close(release)
	poll.Until(t, 10*time.Second, "progressing again", func() (bool, string) {
		return progress.Err() == nil && progress.Lag() == 0, fmt.Sprint(progress.Lag(), progress.Err())
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A consumer caught up hands a record over as soon as its fetch returns,
// not after MaxWait (which only a consumer behind waits, to batch up): a
// result causing an alert is not held back by the batching.
func TestConsumeBatchesCaughtUpHandsOverWithoutWaiting(t *testing.T) {
	cluster, producer := setup(t, 0)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	handled := make(chan time.Time, 10)
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 1000, MaxWait: time.Minute},
			func(_ context.Context, recs []*kgo.Record) error { handled <- time.Now(); return nil })
	}()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		produced := time.Now()
		if err := producer.ProduceSync(context.Background(), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-handled:
			if d := at.Sub(produced); d > 2*time.Second {
				t.Fatalf("record %d handed over %v after it was produced", i, d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("record %d not handed over in 10 s (MaxWait is a minute)", i)
		}
	}
}

// With Flush set, offsets are held until a Flush made the handled batches
// durable: it runs FlushEvery after the first held batch even when no
// further record comes, and only then are the offsets of the batches
// handled before it committed; a Flush that fails commits nothing and
// stops the consumer.
func TestConsumeBatchesHoldsOffsetsUntilFlushed(t *testing.T) {
	cluster, producer := setup(t, 5)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var mu sync.Mutex
	handled, flushedAt := 0, 0
	boom := errors.New("insert refused for good")
	failFlush := false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 2, MaxWait: time.Millisecond, FlushEvery: 300 * time.Millisecond,
				Flush: func() func(context.Context) error {
					mu.Lock()
					upTo := handled
					mu.Unlock()
					return func(context.Context) error {
						mu.Lock()
						defer mu.Unlock()
						if failFlush {
							return boom
						}
						if c := committed(t, producer, "g"); c != int64(flushedAt) {
							t.Errorf("committed %d before the flush of %d handled records, want %d", c, upTo, flushedAt)
						}
						flushedAt = upTo
						return nil
					}
				}},
			func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				defer mu.Unlock()
				handled += len(recs)
				return nil
			})
	}()
	poll.Until(t, 10*time.Second, "5 offsets committed after a flush", func() (bool, string) {
		n := committed(t, producer, "g")
		mu.Lock()
		defer mu.Unlock()
		return n == 5 && flushedAt == 5, fmt.Sprint(n, flushedAt)
	})
	mu.Lock()
	failFlush = true
	mu.Unlock()
	if err := producer.ProduceSync(context.Background(), &kgo.Record{Value: []byte("5")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("error %v, want the flush's", err)
	}
	if n := committed(t, producer, "g"); n != 5 {
		t.Fatalf("committed %d after a failed flush, want 5", n)
	}
}

// A flush that lands after a rebalance took one of its partitions away does
// not commit that partition's offsets: its new owner has committed further
// since, and committing what the flush covered would move the group back
// (the records since redelivered, the next owner starting over). The
// partitions that stayed are committed as usual.
func TestLateFlushDoesNotCommitRevokedPartitions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("in"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	produce := func(p int32, n int) {
		t.Helper()
		for range n {
			if err := producer.ProduceSync(context.Background(), &kgo.Record{Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	offsets := func() map[int32]int64 {
		o, err := kadm.NewClient(producer).FetchOffsets(context.Background(), "g")
		out := map[int32]int64{}
		if err == nil {
			o.Each(func(r kadm.OffsetResponse) { out[r.Partition] = r.At })
		}
		return out
	}
	produce(0, 5)
	produce(1, 5)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// A holds its first flush until released.
	rv := NewRevocations()
	a, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)},
		append(GroupOptions("g", "in"),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { rv.Revoked(m) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { rv.Revoked(m) }))...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	release := make(chan struct{})
	var (
		mu       sync.Mutex
		handledA int
		flushing bool
	)
	wg.Go(func() {
		ConsumeBatches(ctx, a, log, Batching{MaxRecords: 3, FlushEvery: 20 * time.Millisecond, Revocations: rv,
			Flush: func() func(context.Context) error {
				return func(ctx context.Context) error {
					mu.Lock()
					flushing = true
					mu.Unlock()
					select {
					case <-release:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}},
			func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				handledA += len(recs)
				mu.Unlock()
				return nil
			})
	})
	poll.Until(t, 10*time.Second, "A handled all 10 with a flush in flight", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return handledA == 10 && flushing, fmt.Sprint(handledA, flushing)
	})

	// B joins: one partition moves to it; it commits as it goes.
	moved := make(chan int32, 2)
	b, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)},
		append(GroupOptions("g", "in"), kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for _, p := range m["in"] {
				moved <- p
			}
		}))...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wg.Go(func() {
		ConsumeBatches(ctx, b, log, Batching{MaxRecords: 100}, func(context.Context, []*kgo.Record) error { return nil })
	})
	var p int32
	select {
	case p = <-moved:
	case <-time.After(20 * time.Second):
		t.Fatal("B was assigned nothing in 20 s")
	}
	stayed := 1 - p
	produce(p, 5)
	poll.Until(t, 20*time.Second, "B committed its partition to 10", func() (bool, string) {
		o := offsets()
		return o[p] == 10, fmt.Sprint(o)
	})

	// A's flush lands; a new record on the partition A kept is flushed and
	// committed after it.
	close(release)
	produce(stayed, 1)
	poll.Until(t, 20*time.Second, "A committed the partition it kept, past the late flush", func() (bool, string) {
		o := offsets()
		return o[stayed] == 6, fmt.Sprint(o)
	})
	if o := offsets(); o[p] != 10 {
		t.Fatalf("partition %d committed at %d after A's late flush, want B's 10 (the group moved back)", p, o[p])
	}
}

// A flush in the air at shutdown is waited for before anything is
// committed, and when it fails nothing it covers is: before, the flight's
// context ended with the consumer's, so shutdown committed its records
// while the flush still ran.
func TestShutdownCommitsNothingBeforeTheFlushInTheAirLands(t *testing.T) {
	cluster, producer := setup(t, 4)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var handled atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 10, FlushEvery: time.Millisecond,
				Flush: func() func(context.Context) error {
					return func(context.Context) error {
						close(started)
						<-release
						return errors.New("rows refused")
					}
				}},
			func(_ context.Context, recs []*kgo.Record) error { handled.Add(int64(len(recs))); return nil })
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("ConsumeBatches returned (%v) with its flush still in the air", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := committed(t, producer, "g"); n != 0 || handled.Load() != 4 {
		t.Fatalf("%d committed of %d handled after the flush failed, want none", n, handled.Load())
	}
}

// FlushDue starts a flush before FlushEvery, and with one in the air makes
// the consumer wait for it before it takes more records.
func TestFlushDueFlushesEarlyAndBoundsWhatWaits(t *testing.T) {
	cluster, producer := setup(t, 20)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var mu sync.Mutex
	ahead := sync.NewCond(&mu)
	waiting, most, handled := 0, 0, 0 // records handled and not yet taken by a flush; all handled
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 2, FlushEvery: time.Hour,
				FlushDue: func(inFlight bool) bool {
					mu.Lock()
					defer mu.Unlock()
					return waiting >= 4 || (!inFlight && waiting >= 2)
				},
				Flush: func() func(context.Context) error {
					mu.Lock()
					waiting = 0
					mu.Unlock()
					return func(fctx context.Context) error {
						// A slow insert: it lands only once the consumer got as
						// far ahead as FlushDue lets it (or has nothing left).
						stop := context.AfterFunc(fctx, func() { mu.Lock(); ahead.Broadcast(); mu.Unlock() })
						defer stop()
						mu.Lock()
						defer mu.Unlock()
						for waiting < 4 && handled < 20 && fctx.Err() == nil {
							ahead.Wait()
						}
						return fctx.Err()
					}
				}},
			func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				defer mu.Unlock()
				waiting += len(recs)
				handled += len(recs)
				most = max(most, waiting)
				ahead.Broadcast()
				return nil
			})
	}()
	poll.Until(t, 10*time.Second, "20 offsets committed long before FlushEvery", func() (bool, string) {
		n := committed(t, producer, "g")
		return n == 20, fmt.Sprint(n)
	})
	mu.Lock()
	defer mu.Unlock()
	if most > 4 {
		t.Fatalf("%d records waited for a flush, want at most 4", most)
	}
}

// Offsets a flush's Hold holds are committed only once it is released, never
// before an earlier flush's held ones; a consumer with held offsets that
// polls nothing flushes again (with nothing new), so that the caller can
// finish the deferred work and release them.
func TestConsumeBatchesCommitsHeldOffsetsOnlyOnceReleased(t *testing.T) {
	cluster, producer := setup(t, 4)
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, GroupOptions("g", "in")...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var (
		mu       sync.Mutex
		released = make(chan struct{})
		holding  = true
		flushes  int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 2, MaxWait: 20 * time.Millisecond, FlushEvery: 50 * time.Millisecond,
				FlushDue: func(bool) bool { return true },
				Flush: func() func(context.Context) error {
					return func(context.Context) error {
						mu.Lock()
						defer mu.Unlock()
						flushes++
						return nil
					}
				},
				Hold: func() <-chan struct{} {
					mu.Lock()
					defer mu.Unlock()
					if holding {
						return released
					}
					return nil
				}},
			func(context.Context, []*kgo.Record) error { return nil })
	}()
	// Both batches flushed, held; idle, the consumer flushes again and again
	// (what it held is not released), and commits nothing.
	poll.Until(t, 10*time.Second, "one idle flush after the held ones", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return flushes >= 3, fmt.Sprint(flushes)
	})
	if n := committed(t, producer, "g"); n != 0 {
		t.Fatalf("committed %d while held, want 0", n)
	}
	// Released: the next landing commits everything held.
	mu.Lock()
	holding = false
	close(released)
	mu.Unlock()
	poll.Until(t, 10*time.Second, "4 offsets committed once released", func() (bool, string) {
		n := committed(t, producer, "g")
		return n == 4, fmt.Sprint(n)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
