package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/deliver"
)

// secretToken is in every test receiver's URL path: it must never reach a
// log line.
const secretToken = "T0KEN-s3cr3t-path-part"

// httpSink is a destination for these tests: it POSTs the notification's
// key and event ids as JSON, with the key as webhook-id, and classifies the
// answer as the real sinks do. It keeps the pipeline's tests independent of
// any one destination kind's format.
type httpSink struct {
	name, url string
	client    *http.Client
}

var _ deliver.Sink = (*httpSink)(nil)

func (s *httpSink) Name() string { return s.name }
func (s *httpSink) Kind() string { return "webhook" }

type sentBody struct {
	Key    string            `json:"key"`
	Events []string          `json:"events"`
	Checks []string          `json:"checks"`
	States []string          `json:"states"`
	Repeat int               `json:"repeat"`
	Group  map[string]string `json:"group"`
}

func (s *httpSink) Send(ctx context.Context, n deliver.Notification) error {
	b := sentBody{Key: n.Key(), Repeat: n.Repeat, Group: n.Group}
	for _, ev := range n.Events {
		b.Events = append(b.Events, ev.GetEventId())
		b.Checks = append(b.Checks, ev.GetCheckId())
		b.States = append(b.States, deliver.StateLabel(ev.GetState()))
	}
	body, _ := json.Marshal(b)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return &deliver.Error{Outcome: deliver.Permanent}
	}
	req.Header.Set("webhook-id", n.Key())
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", redact(s.url), &deliver.Error{Outcome: deliver.Retry})
	}
	resp.Body.Close()
	err = classified(resp)
	if err != nil {
		return fmt.Errorf("%s answered %d: %w", redact(s.url), resp.StatusCode, err)
	}
	return nil
}

func classified(resp *http.Response) error {
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	switch c := resp.StatusCode; {
	case c < 300:
		return nil
	case c == 410:
		return &deliver.Error{Outcome: deliver.Gone, Status: c}
	case c == 408 || c == 429 || c >= 500:
		return &deliver.Error{Outcome: deliver.Retry, Status: c, RetryAfter: time.Duration(ra) * time.Second}
	default:
		return &deliver.Error{Outcome: deliver.Permanent, Status: c}
	}
}

// got is one request a receiver accepted.
type got struct {
	sentBody
	webhookID string
	at        time.Time
}

// recv is an httptest receiver that answers with the next scripted status
// per event id (then fail, else 200) and records what it accepted.
type recv struct {
	srv    *httptest.Server
	mu     sync.Mutex
	script map[string][]int
	fail   int // when not 0, every request gets it
	// retryAfter, when set, is sent as Retry-After (seconds) with a
	// scripted failure.
	retryAfter int
	calls      map[string]int
	got        []got
}

func newRecv(t testing.TB) *recv {
	r := &recv{script: map[string][]int{}, calls: map[string]int{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recv) url() string { return r.srv.URL + "/hook/" + secretToken }

func (r *recv) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var b sentBody
	json.Unmarshal(body, &b)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[b.Key]++
	if r.fail != 0 {
		w.WriteHeader(r.fail)
		return
	}
	if s := r.script[b.Key]; len(s) > 0 {
		r.script[b.Key] = s[1:]
		if s[0] != http.StatusOK {
			if r.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(r.retryAfter))
			}
			w.WriteHeader(s[0])
			return
		}
	}
	r.got = append(r.got, got{sentBody: b, webhookID: req.Header.Get("webhook-id"), at: time.Now()})
}

func (r *recv) setFail(code int) { r.mu.Lock(); r.fail = code; r.mu.Unlock() }

func (r *recv) received() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.got...)
}

// eventsGot is how many times each event id was received.
func (r *recv) eventsGot() map[string]int {
	out := map[string]int{}
	for _, g := range r.received() {
		for _, e := range g.Events {
			out[e]++
		}
	}
	return out
}

// logBuf is a goroutine-safe log sink whose text tests check for secrets.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// noSecrets fails t when a captured log holds a secret.
func noSecrets(t testing.TB, logs *logBuf, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, secretToken) {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs contain the secret %q", s)
		}
	}
}

type env struct {
	t       testing.TB
	cluster *kfake.Cluster
	cfg     Config
	cl      *kgo.Client
	logs    *logBuf
}

func newEnv(t testing.TB) *env {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.Delivery.Policy.BackoffInitial = 10 * time.Millisecond
	cfg.Delivery.Policy.BackoffMax = 50 * time.Millisecond
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(cfg.Kafka.AlertsTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, cluster: cluster, cfg: cfg, cl: cl, logs: &logBuf{}}
}

// sinks are test sinks for receivers, named d0, d1, ... unless names given.
func sinksFor(rs []*recv) []deliver.Sink {
	var out []deliver.Sink
	for i, r := range rs {
		out = append(out, &httpSink{name: fmt.Sprintf("d%d", i), url: r.url(), client: &http.Client{Timeout: 2 * time.Second}})
	}
	return out
}

// start runs a notifier until the returned stop is called (or the test
// ends).
func (e *env) start(sinks []deliver.Sink, o Options) (*Notifier, func()) {
	e.t.Helper()
	cfg := e.cfg
	for _, s := range sinks {
		cfg.Webhooks = append(cfg.Webhooks, WebhookConfig{Name: s.Name(), URL: "http://unused.example"})
	}
	if err := cfg.Validate(); err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	n, err := NewWithSinks(cfg, sinks, log, prometheus.NewRegistry(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return n, runNotifier(e.t, n)
}

// runNotifier runs n until the returned stop is called (or the test ends).
func runNotifier(t testing.TB, n *Notifier) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type evOpt func(*eventsv1.AlertStateChanged)

func alertEvent(id, check string, state eventsv1.AlertState, opts ...evOpt) *eventsv1.AlertStateChanged {
	ev := &eventsv1.AlertStateChanged{EventId: id, CheckId: check, CheckName: check, Rule: "availability",
		State: state, At: timestamppb.Now(), Message: "msg " + id}
	if state == eventsv1.AlertState_ALERT_STATE_UP || state == eventsv1.AlertState_ALERT_STATE_STALE {
		ev.PreviousState = eventsv1.AlertState_ALERT_STATE_DOWN
	}
	for _, o := range opts {
		o(ev)
	}
	return ev
}

func (e *env) produce(evs ...*eventsv1.AlertStateChanged) {
	e.t.Helper()
	var recs []*kgo.Record
	for _, ev := range evs {
		b, err := proto.Marshal(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: e.cfg.Kafka.AlertsTopic, Key: []byte(ev.GetCheckId() + "/" + ev.GetRule()),
			Value: b, Headers: kafka.Headers(events.AlertStateChangedV1)})
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// committed is the sum of a destination group's committed offsets.
func (e *env) committed(dest string) int64 {
	o, err := kadm.NewClient(e.cl).FetchOffsets(context.Background(), e.cfg.Group+"."+dest)
	var n int64
	if err == nil {
		o.Each(func(r kadm.OffsetResponse) { n += r.At })
	}
	return n
}

// parked reads the park topic: the parked records' headers by event id.
func (e *env) parked() map[string]map[string]string {
	e.t.Helper()
	recs, err := readAll(context.Background(), e.cfg.Kafka, slog.New(slog.DiscardHandler), e.cfg.Kafka.NotifyDeadLetterTopic)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, r := range recs {
		var ev eventsv1.AlertStateChanged
		proto.Unmarshal(r.Value, &ev)
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		out[ev.GetEventId()] = h
	}
	return out
}

// redact is scheme and host, as the real sinks show a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	return u.Scheme + "://" + u.Host
}

// alertRecord is one alert record of check api.
func alertRecord(t testing.TB, topic, id string, state eventsv1.AlertState, at time.Time) *kgo.Record {
	ev := alertEvent(id, "api", state)
	ev.At = timestamppb.New(at)
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte("api/availability"), Value: b, Headers: kafka.Headers(events.AlertStateChangedV1)}
}
