package outbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/poll"
)

// gatedKafka sends to a kfake broker; while gate is set, the first batch
// holding a spooled record (value > spooledFrom) is held until release is
// closed, so Puts can fill the spool while that batch is in flight.
type gatedKafka struct {
	cl          *kgo.Client
	down        atomic.Bool
	spooledFrom int
	once        sync.Once
	entered     chan struct{}
	release     chan struct{}
}

func (g *gatedKafka) send(ctx context.Context, recs []Record) error {
	if g.down.Load() {
		return context.DeadlineExceeded
	}
	if first, _ := strconv.Atoi(string(recs[0].Value)); first > g.spooledFrom {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	krecs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krecs[i] = &kgo.Record{Topic: "results", Key: r.Key, Value: r.Value}
	}
	return g.cl.ProduceSync(ctx, krecs...).FirstErr()
}

// A Put that reaches max_spool_bytes while a spooled batch is being sent
// drops the oldest records, but never the batch in flight nor the position
// of the next read: every record not counted as dropped arrives, in order,
// and the sender keeps going.
func TestSpoolLimitDuringSendKeepsOrderAndSending(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "results"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	c := cfg(t.TempDir())
	c.MaxSpoolBytes = 1024 // four 256-byte segments
	var dropped atomic.Int64
	o, err := Open(c, func(n int, err error) { dropped.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedKafka{cl: cl, spooledFrom: c.MemoryRecords, entered: make(chan struct{}), release: make(chan struct{})}
	g.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx, g.send, time.Millisecond) }()

	const total = 600
	put(o, 1, 40) // 10 in memory, 30 spooled
	g.down.Store(false)
	select {
	case <-g.entered: // a spooled batch is in flight
	case <-time.After(10 * time.Second):
		t.Fatal("no spooled batch was sent")
	}
	put(o, 41, total) // far past the limit: the oldest segments go, the one in flight among them
	if dropped.Load() == 0 {
		t.Fatal("the spool limit was never reached")
	}
	close(g.release)
	poll.Until(t, 10*time.Second, "the outbox to drain", func() (bool, string) {
		st := o.Stats()
		return st.Memory+st.Spooled == 0, o.statsString()
	})
	cancel()
	<-done

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("results"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	want := total - int(dropped.Load())
	var got []int
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	for len(got) < want && pctx.Err() == nil {
		consumer.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			n, _ := strconv.Atoi(string(r.Value))
			got = append(got, n)
		})
	}
	if len(got) != want {
		t.Fatalf("%d records in Kafka, want %d (%d put, %d counted as dropped)", len(got), want, total, dropped.Load())
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("record %d is %d after %d: out of order or duplicated (%v)", i, got[i], got[i-1], got)
		}
	}
	if got[len(got)-1] != total {
		t.Fatalf("the newest record %d did not arrive, last is %d", total, got[len(got)-1])
	}
}

// A batch in flight when its segment is dropped, and then not taken by
// Kafka before shutdown, exists only in memory: Close spools it first, so
// the next start sends it before everything else.
func TestDetachedBatchSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	c := cfg(dir)
	c.MaxSpoolBytes = 1024
	var dropped atomic.Int64
	o, err := Open(c, func(n int, err error) { dropped.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	send := func(ctx context.Context, recs []Record) error {
		if first, _ := strconv.Atoi(string(recs[0].Value)); first > c.MemoryRecords {
			once.Do(func() { close(entered); <-release })
			return context.DeadlineExceeded // Kafka never takes it
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	put(o, 1, 40)
	go func() { defer close(done); o.Run(ctx, send, time.Millisecond) }()
	<-entered
	put(o, 41, 300)
	if dropped.Load() == 0 {
		t.Fatal("the spool limit was never reached")
	}
	cancel()
	close(release)
	<-done
	if since, err := o.Failing(); since.IsZero() || err == nil {
		t.Fatalf("a failed send is not reported: %v %v", since, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o, err = Open(cfg(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Spooled != 300-10-int(dropped.Load()) {
		t.Fatalf("after reopening %+v; %d dropped of 300, 10 sent", st, dropped.Load())
	}
	s := &sink{}
	run(t, o, s)
	got := waitReceived(t, s, 300-10-int(dropped.Load()))
	inOrder(t, got[:c.Batch], c.MemoryRecords+1) // the batch that was in flight comes first
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("record %d is %d after %d (%v)", i, got[i], got[i-1], got)
		}
	}
	if got[len(got)-1] != 300 {
		t.Fatalf("last record %d", got[len(got)-1])
	}
}

// A segment damaged on disk while the outbox runs (a length that points past
// its end) is set aside as *.corrupt with its records counted as dropped;
// the records after it are still sent, in order.
func TestDamagedSegmentIsSetAside(t *testing.T) {
	dir := t.TempDir()
	var dropped atomic.Int64
	var errs atomic.Int64
	c := cfg(dir)
	c.OnError = func(error) { errs.Add(1) }
	o, err := Open(c, func(n int, err error) { dropped.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	s.down.Store(true)
	put(o, 1, 100) // 10 in memory, 90 spooled over several segments
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) < 3 {
		t.Fatalf("%d segments", len(files))
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff, 0xff, 0xf0}, 8) // the first record's key length
	f.Close()
	s.down.Store(false)
	run(t, o, s)
	poll.Until(t, 10*time.Second, "the outbox to drain", func() (bool, string) {
		st := o.Stats()
		return st.Memory+st.Spooled == 0, o.statsString()
	})
	got := s.received()
	inOrder(t, got[:10], 1)
	if len(got)+int(dropped.Load()) != 100 || dropped.Load() == 0 || errs.Load() == 0 {
		t.Fatalf("received %d, dropped %d, errors %d", len(got), dropped.Load(), errs.Load())
	}
	inOrder(t, got[10:], 100-len(got)+11)
	if set, _ := filepath.Glob(filepath.Join(dir, "*.corrupt")); len(set) != 1 {
		t.Fatalf("set aside: %v", set)
	}
}
