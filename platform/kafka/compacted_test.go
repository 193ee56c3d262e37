package kafka

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Each lists every key the topic holds, once, with its newest value: a key
// written twice shows its second value, a tombstoned key and one whose value
// does not decode are not listed.
func TestCompactedEachListsTheState(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "defs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := func(k, v string) *kgo.Record {
		r := &kgo.Record{Topic: "defs", Key: []byte(k)}
		if v != "" {
			r.Value = []byte(v)
		}
		return r
	}
	if err := cl.ProduceSync(ctx, rec("a", "1"), rec("b", "1"), rec("a", "2"), rec("gone", "1"), rec("gone", ""),
		rec("bad", "!")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Brokers = cluster.ListenAddrs()
	c := NewCompacted(cfg, "defs", slog.New(slog.NewTextHandler(io.Discard, nil)), time.Second, func(_ string, v []byte) (string, error) {
		if string(v) == "!" {
			return "", errors.New("does not decode")
		}
		return string(v), nil
	})
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	c.Each(func(k, v string) {
		if _, twice := got[k]; twice {
			t.Errorf("key %s listed twice", k)
		}
		got[k] = v
	})
	if want := map[string]string{"a": "2", "b": "1"}; !maps.Equal(got, want) {
		t.Fatalf("Each listed %v, want %v", got, want)
	}
}
