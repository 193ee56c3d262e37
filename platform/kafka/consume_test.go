package kafka

import (
	"context"
	"errors"
	"fmt"
	"github.com/picket-dev/picket/platform/poll"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

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
// the offsets are committed after the handler, and the lag reaches 0.
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
	var lastLag int64 = -1
	done := make(chan error, 1)
	go func() {
		done <- ConsumeBatches(ctx, consumer, slog.New(slog.NewTextHandler(io.Discard, nil)),
			Batching{MaxRecords: 10, MaxWait: 20 * time.Millisecond, Lag: func(n int64) { mu.Lock(); lastLag = n; mu.Unlock() }},
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
	if len(seen) != 25 || lastLag != 0 {
		t.Fatalf("handled %d, last lag %d", len(seen), lastLag)
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
