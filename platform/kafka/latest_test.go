package kafka

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The state of a compacted topic: the last record of every key up to the end
// taken at the start, tombstones included, without waiting on partitions that
// hold nothing — neither an empty one nor one whose records were all deleted
// (its end offset is above 0, but no record is left to reach it).
func TestLatestByKeyReadsToTheEnd(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := func(p int32, k, v string) *kgo.Record {
		r := &kgo.Record{Topic: "state", Partition: p, Key: []byte(k)}
		if v != "" {
			r.Value = []byte(v)
		}
		return r
	}
	if err := cl.ProduceSync(ctx, rec(0, "a", "1"), rec(0, "b", "1"), rec(0, "a", "2"), rec(0, "b", ""),
		rec(2, "gone", "1"), rec(2, "gone", "2")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Partition 2's records are all deleted: start = end = 2. Partition 1 is empty.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: "state", Partition: 2, At: 2})
	if resp, err := kadm.NewClient(cl).DeleteRecords(ctx, del); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v %v", err, resp.Error())
	}
	cfg := DefaultConfig()
	cfg.Brokers = cluster.ListenAddrs()
	got, err := LatestByKey(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "state")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["a"].Value) != "2" || got["b"].Value != nil {
		t.Fatalf("latest: %v", got)
	}
}
