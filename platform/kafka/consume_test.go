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
