package aggregator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/admin"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// runAggregator runs an aggregator with its admin server until the test
// ends, and returns it and the admin server's address.
func (e *env) runAggregator(t *testing.T, hook func(*Aggregator)) (*Aggregator, string) {
	t.Helper()
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	reg := prometheus.NewRegistry()
	a, err := New(e.cfg, e.store, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(a)
	}
	srv, err := admin.New("127.0.0.1:0", reg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCheck("dependencies", a.Ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { a.Run(ctx); done <- struct{}{} }()
	go func() { srv.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return a, srv.Addr()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metric is the value of an unlabelled metric on the admin server.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	_, body := get(t, "http://"+addr+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) committed(t *testing.T) int64 {
	t.Helper()
	o, err := kadm.NewClient(e.client).FetchOffsets(context.Background(), e.cfg.Group)
	if err != nil {
		return 0
	}
	var total int64
	o.Each(func(r kadm.OffsetResponse) { total += r.At })
	return total
}

// A 1,000,000-byte garbage record the broker accepted has a dead-letter copy
// (the original plus the dead-letter headers) over the producer's limit. It
// is parked cut to fit, saying so and where it came from, and the good
// results behind it are ingested and committed; before, the aggregator
// retried MESSAGE_TOO_LARGE forever, after a restart too.
func TestARecordTooLargeToDeadLetterWholeIsParkedAndIngestionGoesOn(t *testing.T) {
	e := newEnv(t)
	// The broker's limit (kfake's max.message.bytes, Kafka's default
	// 1048588) takes the record; the aggregator's producer limit is franz-go's
	// default 1000012.
	big, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	value := make([]byte, 1_000_000)
	rand.Read(value)
	junk := &kgo.Record{Topic: e.cfg.Kafka.ResultsTopic, Key: []byte("api"), Value: value}
	if err := big.ProduceSync(context.Background(), junk).FirstErr(); err != nil {
		t.Fatalf("the broker refused the garbage: %v", err)
	}
	var good []*kgo.Record
	for i := range 10 {
		good = append(good, record(t, result("api", i, true)))
	}
	e.produce(t, good...)

	a, addr := e.runAggregator(t, nil)
	poll(t, "the 10 good results ingested and 11 offsets committed", func() (bool, string) {
		st := e.stats(t, "api")
		n := e.committed(t)
		return st.Samples == 10 && n == 11, fmt.Sprint(st.Samples, " samples, ", n, " committed")
	})
	dead := consumeAll(t, e, e.cfg.Kafka.DeadLetterTopic, 1)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	h := map[string]string{}
	for _, kv := range dead[0].Headers {
		h[kv.Key] = string(kv.Value)
	}
	if h[kafka.HeaderDLQTruncated] != "1000000" || h[kafka.HeaderDLQTopic] != e.cfg.Kafka.ResultsTopic ||
		h[kafka.HeaderDLQPartition] != strconv.Itoa(int(junk.Partition)) || h[kafka.HeaderDLQOffset] != strconv.FormatInt(junk.Offset, 10) ||
		!strings.HasPrefix(h[kafka.HeaderDLQReason], "unexpected schema: header picket-schema") {
		t.Errorf("dead letter headers %v", h)
	}
	if n := len(dead[0].Value); n == 0 || n >= len(value) || string(dead[0].Value) != string(value[:n]) {
		t.Errorf("parked value of %d bytes, want a prefix of the original's %d", n, len(value))
	}
	poll(t, "ready, lag 0", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK && a.progress.Lag() == 0, fmt.Sprint(code, body, a.progress.Lag())
	})
}

// A consumer that cannot finish a batch is visible: /readyz not ready with
// the reason, the stall metric above 0 and the lag counting the records not
// committed; once the batch finishes, all of it clears.
func TestAStuckConsumerIsNotReady(t *testing.T) {
	e := newEnv(t)
	e.cfg.StallTimeout = 300 * time.Millisecond
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, record(t, result("api", i, true)))
	}
	e.produce(t, recs...)
	release := make(chan struct{})
	_, addr := e.runAggregator(t, func(a *Aggregator) {
		a.beforePublish = func() error { <-release; return nil }
	})
	poll(t, "/readyz not ready: consumer stalled", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "consumer stalled") &&
			strings.Contains(body, "a batch of 5 records"), fmt.Sprint(code, " ", body)
	})
	poll(t, "stalled and lagging in the metrics", func() (bool, string) {
		stalled := metric(t, addr, "picket_aggregator_consumer_stalled_seconds")
		lag := metric(t, addr, "picket_aggregator_consumer_lag_records")
		return stalled >= 0.3 && lag == 5, fmt.Sprint("stalled ", stalled, " lag ", lag)
	})
	close(release)
	poll(t, "ready again, nothing waiting", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK && metric(t, addr, "picket_aggregator_consumer_lag_records") == 0 &&
			metric(t, addr, "picket_aggregator_consumer_stalled_seconds") == 0 && e.committed(t) == 5, fmt.Sprint(code, " ", body)
	})
}

// A rollup rebuild that keeps failing holds back every commit while
// ingestion goes on: /readyz names the rebuild and its error (it said only
// that partitions had not advanced), and clears once a rebuild succeeds.
func TestAFailingRollupFlushIsNamedInReadyz(t *testing.T) {
	e := newEnv(t)
	e.cfg.StallTimeout = 300 * time.Millisecond
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, record(t, result("api", i, true)))
	}
	e.produce(t, recs...)
	var failing atomic.Bool
	failing.Store(true)
	_, addr := e.runAggregator(t, func(a *Aggregator) {
		a.rollupFault = func() error {
			if failing.Load() {
				return errors.New("code: 252, too many parts")
			}
			return nil
		}
	})
	poll(t, "/readyz names the failing rebuild", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "consumer stalled") &&
			strings.Contains(body, "offsets held for a flush retrying rebuild rollups: code: 252, too many parts"), fmt.Sprint(code, " ", body)
	})
	failing.Store(false)
	poll(t, "ready again, all committed", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK && e.committed(t) == 5, fmt.Sprint(code, " ", body)
	})
}

// An alert topic that retention would empty is refused at start, at once,
// with the command that fixes it.
func TestStartRefusesAnAlertTopicThatIsNotCompacted(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, cfg.Kafka.AlertsTopic); err != nil {
		t.Fatal(err)
	}
	e := &env{cluster: cluster, cfg: cfg, store: embeddedtest.Store(t), client: cl}
	done := e.startWith(t, func(*Aggregator) {})
	select {
	case err := <-done:
		want := "topic picket.alert-state.v1 has cleanup.policy=delete; it must be compact: kafka-configs --bootstrap-server " +
			cfg.Kafka.Brokers[0] + " --alter --entity-type topics --entity-name picket.alert-state.v1 --add-config cleanup.policy=compact"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Run: %v\nwant an error saying %q", err, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the aggregator started on an alert topic with cleanup.policy=delete")
	}
}
