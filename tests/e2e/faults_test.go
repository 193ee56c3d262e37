package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/logtest"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query/api"
)

// Fault tests: the embedded stack with one part failing for a while, each
// checked against a ground truth of its own (the target's log of what it
// served). They run in CI (embedded only: the faults are injected into kfake
// and libchdb).

func faultCheck(url string, interval time.Duration) []check.Check {
	return []check.Check{{
		ID: "shop", Name: "Shop", Interval: interval, Timeout: interval * 4 / 5,
		HTTP: &check.HTTP{Method: "GET", URL: url + "/", ExpectedStatus: []int{200}},
	}}
}

func faultConfig() devstack.Config {
	cfg := devstack.DefaultConfig()
	cfg.Demo.Enabled, cfg.Prober.Definitions = false, false
	return cfg
}

// everyResultStored waits until the stats count every request the target
// served, once, and checks the successes against its 200s.
func everyResultStored(t *testing.T, p Pipeline, target *scriptedTarget, began time.Time) {
	t.Helper()
	target.mu.Lock()
	total, ok := len(target.arrivals), target.served[200]
	target.mu.Unlock()
	from, to := began.Add(-time.Minute).Truncate(time.Minute), time.Now().Add(time.Minute)
	var st statsView
	eventually(t, 60*time.Second, "every served request's result in the stats", func() (bool, string) {
		s, stored := statsIfAny(t, p.QueryURL(), from, to)
		if !stored {
			return false, "no result stored yet"
		}
		st = statsView{s.Samples, s.Successes, timeouts(s)}
		return s.Samples >= uint64(total), fmt.Sprintf("%d samples of %d served", s.Samples, total)
	})
	// A run the prober gave up on may or may not have reached the target:
	// every other result is one served request, and every served request
	// has its result.
	if st.samples < uint64(total) || st.samples-st.timeouts > uint64(total) || st.successes > uint64(ok) || st.successes+st.timeouts < uint64(ok) {
		t.Errorf("stats: %d samples, %d successes (%d timeouts); the target served %d, %d of them 200", st.samples, st.successes, st.timeouts, total, ok)
	}
}

// statsIfAny is statsOf, or false while no result of the check is stored
// (404) or its tables are still being created (503).
func statsIfAny(t *testing.T, queryURL string, from, to time.Time) (api.StatsJSON, bool) {
	t.Helper()
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	u := queryURL + "/api/v1/checks/shop/stats?" + q.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st api.StatsJSON
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusServiceUnavailable:
		return st, false
	case http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return st, true
	}
	b, _ := io.ReadAll(resp.Body)
	t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	return st, false
}

type statsView struct{ samples, successes, timeouts uint64 }

// refusingClickHouse is the real embedded engine refusing every write while
// down is set, as a ClickHouse server that is unreachable or out of disk.
type refusingClickHouse struct {
	store.Backend
	down    atomic.Bool
	refused atomic.Int64
}

var errRefused = errors.New("dial tcp 10.0.0.9:9000: connection refused")

func (r *refusingClickHouse) Insert(ctx context.Context, table string, rows any) error {
	if r.down.Load() {
		r.refused.Add(1)
		return errRefused
	}
	return r.Backend.Insert(ctx, table, rows)
}

func (r *refusingClickHouse) Exec(ctx context.Context, query string, params store.Params) error {
	if r.down.Load() && strings.HasPrefix(strings.TrimSpace(strings.ToUpper(query)), "INSERT") {
		r.refused.Add(1)
		return errRefused
	}
	return r.Backend.Exec(ctx, query, params)
}

// ClickHouse refusing writes for a while: the aggregator retries without
// committing, then catches up; every served request is stored once.
func TestFaultClickHouseRefusesWritesForAWhile(t *testing.T) {
	target := &scriptedTarget{okBefore: 1 << 30, served: map[int]int{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	ch := &refusingClickHouse{Backend: embeddedtest.Backend(t)}
	began := time.Now()
	p := startEmbeddedWith(t, faultConfig(), devstack.Options{Checks: faultCheck(ts.URL, 50*time.Millisecond), Backend: ch})
	eventually(t, 30*time.Second, "some results stored before the outage", func() (bool, string) {
		st, _ := statsIfAny(t, p.QueryURL(), began.Add(-time.Minute), time.Now().Add(time.Minute))
		return st.Samples >= 10, fmt.Sprintf("%d stored", st.Samples)
	})
	ch.down.Store(true)
	eventually(t, 30*time.Second, "writes refused and retried", func() (bool, string) {
		return ch.refused.Load() >= 3, fmt.Sprintf("%d refused", ch.refused.Load())
	})
	// Paused, not skipping: nothing is committed, so the lag the
	// aggregator reports grows (it is measured every 5 s at most).
	eventually(t, 30*time.Second, "the aggregator to report its lag", func() (bool, string) {
		lag := metric(t, p.s.AdminURL, "picket_aggregator_consumer_lag_records")
		return lag > 0, fmt.Sprintf("lag %v", lag)
	})
	during := target.total()
	ch.down.Store(false)
	eventually(t, 30*time.Second, "results after the outage", func() (bool, string) {
		return target.total() >= during+10, fmt.Sprintf("served %d", target.total())
	})
	if err := p.StopProber(); err != nil {
		t.Fatal(err)
	}
	everyResultStored(t, p, target, began)
}

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The broker stopped for a while and started again on its data directory:
// the prober keeps probing and queues (spools) its results, the consumers
// reconnect, and every served request is stored once.
func TestFaultBrokerStoppedForAWhile(t *testing.T) {
	target := &scriptedTarget{okBefore: 1 << 30, served: map[int]int{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	port, dir := freePort(t), t.TempDir()
	startBroker := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
		if err != nil {
			t.Fatalf("start kfake on %s: %v", dir, err)
		}
		return c
	}
	broker := startBroker()
	t.Cleanup(func() { broker.Close() })
	began := time.Now()
	p := startEmbeddedWith(t, faultConfig(), devstack.Options{
		Checks: faultCheck(ts.URL, 50*time.Millisecond), Backend: embeddedtest.Backend(t),
		KafkaBrokers: []string{"127.0.0.1:" + strconv.Itoa(port)},
	})
	eventually(t, 30*time.Second, "some results before the broker stops", func() (bool, string) {
		return target.total() >= 10, fmt.Sprintf("served %d", target.total())
	})
	broker.Close()
	stopped := target.total()
	eventually(t, 30*time.Second, "/readyz to say Kafka is away", func() (bool, string) {
		code, body := readyz(t, p.s.AdminURL)
		return code == http.StatusServiceUnavailable, fmt.Sprintf("%d %s", code, body)
	})
	eventually(t, 30*time.Second, "probing to go on without the broker", func() (bool, string) {
		return target.total() >= stopped+20, fmt.Sprintf("served %d since the broker stopped", target.total()-stopped)
	})
	broker = startBroker()
	restarted := target.total()
	// What was queued while the broker was away is sent once it is back
	// (the outbox retries with a backoff of up to 5 s), with the prober
	// still running: stopping it would spool the rest for its next start.
	from := began.Add(-time.Minute).Truncate(time.Minute)
	eventually(t, 60*time.Second, "the results queued during the outage stored", func() (bool, string) {
		st, _ := statsIfAny(t, p.QueryURL(), from, time.Now().Add(time.Minute))
		return st.Samples >= uint64(restarted), fmt.Sprintf("%d samples, %d served before the broker was back", st.Samples, restarted)
	})
	eventually(t, 30*time.Second, "/readyz ready again", func() (bool, string) {
		code, body := readyz(t, p.s.AdminURL)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	if err := p.StopProber(); err != nil {
		t.Fatal(err)
	}
	everyResultStored(t, p, target, began)
}

// metric sums the samples of a metric on an admin server's /metrics.
func metric(t *testing.T, adminURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(rest)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

func readyz(t *testing.T, adminURL string) (int, string) {
	t.Helper()
	resp, err := http.Get(adminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Malformed and oversized records in every topic Picket consumes (results,
// alert states, check definitions): each undecodable one is dead-lettered
// with its reason and source, the rest is ingested, and /readyz stays ready.
func TestFaultMalformedAndOversizedRecords(t *testing.T) {
	target := &scriptedTarget{okBefore: 1 << 30, served: map[int]int{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	cfg := faultConfig()
	cfg.Prober.Definitions = true
	// The notifier reads the alert topic per destination: one destination,
	// so each bad alert record is dead-lettered once.
	hook := httptest.NewServer(&recorder{})
	defer hook.Close()
	cfg.Webhooks = append(cfg.Webhooks, notifier.WebhookConfig{Name: "recorder", URL: hook.URL, Timeout: 5 * time.Second})
	began := time.Now()
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogWriter()), &slog.HandlerOptions{Level: slog.LevelError}))
	p := startEmbeddedWith(t, cfg, devstack.Options{Checks: faultCheck(ts.URL, 50*time.Millisecond), Backend: embeddedtest.Backend(t), Log: log})
	eventually(t, 30*time.Second, "some results first", func() (bool, string) {
		return target.total() >= 5, fmt.Sprintf("served %d", target.total())
	})
	kc := kafka.DefaultConfig()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.s.KafkaAddr), kgo.ProducerBatchMaxBytes(4<<20), kgo.MaxBufferedBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	big := strings.Repeat("x", 900<<10)
	var sent []*kgo.Record
	for _, topic := range []string{kc.ResultsTopic, kc.AlertsTopic} {
		sent = append(sent,
			&kgo.Record{Topic: topic, Key: []byte("shop"), Value: []byte("not protobuf at all")},
			&kgo.Record{Topic: topic, Key: []byte("shop/x"), Value: []byte(big), Headers: []kgo.RecordHeader{{Key: "picket-schema", Value: []byte("picket.events.v1.CheckResult")}}},
		)
	}
	// A definition the prober cannot read is refused by it (logged), not
	// run; nothing else changes.
	sent = append(sent,
		&kgo.Record{Topic: kc.ChecksTopic, Key: []byte("local/broken"), Value: []byte(big)},
		&kgo.Record{Topic: kc.ChecksTopic, Key: []byte("local/garbled"), Value: []byte("\xff\x00 not a definition"),
			Headers: []kgo.RecordHeader{{Key: "picket-schema", Value: []byte("picket.checks.v1.Check")}}})
	if err := cl.ProduceSync(context.Background(), sent...).FirstErr(); err != nil {
		t.Fatalf("inject: %v", err)
	}
	wantDead := 4 // the checks topic's is the prober's to refuse
	var dead []*kgo.Record
	dl, err := kgo.NewClient(kgo.SeedBrokers(p.s.KafkaAddr), kgo.ConsumeTopics(kc.DeadLetterTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	eventually(t, 30*time.Second, "the malformed records dead-lettered", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		dl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { dead = append(dead, r) })
		if code, body := readyz(t, p.s.AdminURL); code != http.StatusOK {
			t.Errorf("/readyz %d while dead-lettering:\n%s", code, body)
		}
		return len(dead) >= wantDead, fmt.Sprintf("%d dead letters", len(dead))
	})
	for _, r := range dead {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[kafka.HeaderDLQReason] == "" || h[kafka.HeaderDLQTopic] == "" || h[kafka.HeaderDLQOffset] == "" {
			t.Errorf("dead letter of %q without its reason or source: %v", r.Key, h)
		}
	}
	eventually(t, 30*time.Second, "the prober to refuse the broken definitions, saying why", func() (bool, string) {
		l := logs.String()
		return strings.Contains(l, `msg="fleet: skipping check definition" service=prober source=definitions check=local/broken partition=0 offset=0 err="unexpected schema`) &&
			strings.Contains(l, `check=local/garbled`), l
	})
	more := target.total()
	eventually(t, 30*time.Second, "probing and ingestion to go on", func() (bool, string) {
		return target.total() >= more+10, fmt.Sprintf("served %d", target.total())
	})
	if code, body := readyz(t, p.s.AdminURL); code != http.StatusOK {
		t.Errorf("/readyz %d after the malformed records:\n%s", code, body)
	}
	if err := p.StopProber(); err != nil {
		t.Fatal(err)
	}
	everyResultStored(t, p, target, began)
}
