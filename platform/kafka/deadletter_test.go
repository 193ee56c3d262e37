package kafka

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// readAll reads every record of topic.
func readAll(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// garbage is a record of size bytes that a broker with the default limits
// accepts, as a producer with a larger batch limit writes it.
func garbage(t *testing.T, cluster *kfake.Cluster, topic string, size int) *kgo.Record {
	t.Helper()
	big, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerBatchMaxBytes(4<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	value := make([]byte, size)
	rand.Read(value)
	r := &kgo.Record{Topic: topic, Key: []byte("junk"), Value: value}
	if err := big.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatalf("the broker refused the %d-byte record: %v", size, err)
	}
	return r
}

// A 1,000,000-byte record the broker accepted has a dead-letter copy larger
// than the producer's limit: it is parked cut to fit, saying so, with where
// it came from, instead of being retried forever.
func TestProduceDeadLettersParksARecordTooLargeToCopyWhole(t *testing.T) {
	for _, tc := range []struct {
		name string
		// dlqMax is the dead-letter topic's max.message.bytes ("" the
		// broker's default, larger than the producer's limit).
		dlqMax string
		limit  int
	}{
		{"producer limit", "", DefaultDeadLetterMaxBytes},
		{"broker limit of the dead-letter topic", "20000", 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var cfg map[string]*string
			if tc.dlqMax != "" {
				cfg = map[string]*string{"max.message.bytes": kadm.StringPtr(tc.dlqMax)}
			}
			if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, cfg, "dlq"); err != nil {
				t.Fatal(err)
			}
			src := garbage(t, cluster, "in", 1_000_000)
			src.Headers = []kgo.RecordHeader{{Key: "picket-schema", Value: []byte("nonsense")}}
			dl := DeadLetter("dlq", src, errors.New("unexpected schema"), time.Now())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ProduceDeadLetters(ctx, cl, dl); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, cluster.ListenAddrs(), "dlq", 1)[0]
			if size, _ := header(got, HeaderDLQTruncated); size != "1000000" {
				t.Errorf("%s = %q, want the original size 1000000", HeaderDLQTruncated, size)
			}
			if len(got.Value) == 0 || len(got.Value) >= 1_000_000 || !bytes.HasPrefix(src.Value, got.Value) {
				t.Errorf("parked value of %d bytes, want a prefix of the original", len(got.Value))
			}
			if RecordBytes(got) > tc.limit {
				t.Errorf("parked record of %d bytes, over the limit %d", RecordBytes(got), tc.limit)
			}
			for k, want := range map[string]string{HeaderDLQTopic: "in", HeaderDLQPartition: "0",
				HeaderDLQOffset: strconv.FormatInt(src.Offset, 10), HeaderDLQReason: "unexpected schema", "picket-schema": "nonsense"} {
				if v, _ := header(got, k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if string(got.Key) != "junk" {
				t.Errorf("key %q", got.Key)
			}
		})
	}
}

// What does not fit goes in order: the value is cut, then the original
// headers are left out, then the key is cut; the dead-letter headers stay.
func TestFitDeadLetter(t *testing.T) {
	src := &kgo.Record{Topic: "in", Partition: 2, Offset: 7, Key: bytes.Repeat([]byte("k"), 3000),
		Value: bytes.Repeat([]byte("v"), 5000), Headers: []kgo.RecordHeader{{Key: "h", Value: bytes.Repeat([]byte("x"), 4000)}}}
	dl := DeadLetter("dlq", src, errors.New(strings.Repeat("why ", 1000)), time.Now())
	if r, _ := header(dl, HeaderDLQReason); len(r) > maxReasonBytes || !strings.HasSuffix(r, "(truncated)") {
		t.Errorf("reason of %d bytes: %q…", len(r), r[:20])
	}
	if got, ok := FitDeadLetter(dl, 1<<20); !ok || got != dl {
		t.Fatal("a dead letter that fits is changed")
	}
	for _, tc := range []struct {
		limit                     int
		value, key, headers, drop string
	}{
		{limit: 9000, value: "5000"},
		{limit: 6000, value: "5000", drop: "1"},
		{limit: 2000, value: "5000", key: "3000", drop: "1"},
	} {
		got, ok := FitDeadLetter(dl, tc.limit)
		if !ok || RecordBytes(got) > tc.limit {
			t.Fatalf("limit %d: ok %v, %d bytes", tc.limit, ok, RecordBytes(got))
		}
		for k, want := range map[string]string{HeaderDLQTruncated: tc.value, HeaderDLQTruncatedKey: tc.key,
			HeaderDLQDroppedHeaders: tc.drop, HeaderDLQOffset: "7", HeaderDLQPartition: "2", HeaderDLQTopic: "in"} {
			if v, _ := header(got, k); v != want {
				t.Errorf("limit %d: header %s = %q, want %q", tc.limit, k, v, want)
			}
		}
		// Fitting a fitted copy again keeps the original sizes.
		again, ok := FitDeadLetter(got, tc.limit-300)
		if v, _ := header(again, HeaderDLQTruncated); !ok || v != "5000" {
			t.Errorf("limit %d then %d: %s = %q", tc.limit, tc.limit-300, HeaderDLQTruncated, v)
		}
	}
	if _, ok := FitDeadLetter(dl, 100); ok {
		t.Error("a limit smaller than the dead-letter headers fits")
	}
}

// A dead-letter topic too small for even the dead-letter headers is an error
// that says so (the consumer retries it and shows as stalled), not a loop
// inside ProduceDeadLetters.
func TestProduceDeadLettersFailsWhenNotEvenTheHeadersFit(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1,
		map[string]*string{"max.message.bytes": kadm.StringPtr("150")}, "dlq"); err != nil {
		t.Fatal(err)
	}
	src := garbage(t, cluster, "in", 5000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = ProduceDeadLetters(ctx, cl, DeadLetter("dlq", src, errors.New("unexpected schema"), time.Now()))
	if !errors.Is(err, kerr.MessageTooLarge) || !strings.Contains(err.Error(), "produce dead letter of in[0] offset 0: refused even cut to") {
		t.Fatalf("error %v", err)
	}
}
