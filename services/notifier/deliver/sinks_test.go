package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier/safedial"
)

var safedialAllowLoopback = safedial.Config{Allow: []string{"127.0.0.1"}}

var update = flag.Bool("update", false, "rewrite golden files")

// Every secret a test hands a sink, and everything any sink test logged or
// got back as an error: TestMain fails the run if one appears in the other.
var (
	capMu    sync.Mutex
	captured bytes.Buffer
	secrets  = []string{
		"T0SECRET/B0SECRET/slackTokenXYZ123", "slackTokenXYZ123",
		"discordTokenABC987", "teamsSigQWE456",
		"pdRoutingKey0123456789abcdef01234",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24hIQ==",
		"legacy-raw-secret",
	}
	captureLog = slog.New(slog.NewTextHandler(lockedWriter{}, nil))
)

type lockedWriter struct{}

func (lockedWriter) Write(p []byte) (int, error) {
	capMu.Lock()
	defer capMu.Unlock()
	return captured.Write(p)
}

// record logs what an operator would see of a send: the error as the
// notifier logs it, and the sink printed every way fmt can.
func record(s Sink, err error) {
	captureLog.Error("send", "sink", s, "err", err)
	fmt.Fprintf(lockedWriter{}, "%v %+v %#v %s\n", s, s, s, s)
	if err != nil {
		fmt.Fprintf(lockedWriter{}, "%v %+v %#v\n", err, err, errors.Unwrap(err))
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	capMu.Lock()
	out := captured.String()
	capMu.Unlock()
	if out == "" && code == 0 && !strings.Contains(strings.Join(os.Args, " "), "-test.run") {
		fmt.Fprintln(os.Stderr, "no sink output captured: the secret check saw nothing")
		code = 1
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			fmt.Fprintf(os.Stderr, "secret %q appears in captured logs or errors:\n%s\n", s, out)
			code = 1
		}
	}
	os.Exit(code)
}

var t0 = time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)

func recovery() *eventsv1.AlertStateChanged {
	return &eventsv1.AlertStateChanged{
		EventId: "9f5b155564a4fc45a4ae077e6f68fbea", CheckId: "reservations", CheckName: "Reservations API",
		Rule: "availability", State: eventsv1.AlertState_ALERT_STATE_UP, PreviousState: eventsv1.AlertState_ALERT_STATE_DOWN,
		At:           timestamppb.New(t0),
		Message:      "Website Reservations API is up again. availability=80.00%, time=2026-11-22T10:05:00Z, recovered after 3m0s (down since 2026-11-22T10:02:00Z)",
		Availability: 0.8, Threshold: 0.8, Window: durationpb.New(2 * time.Minute), Samples: 24, Successes: 20,
		DownSince: timestamppb.New(t0.Add(-3 * time.Minute)), LastResultId: "0a1b2c",
		Kind: "availability", Value: 0.8, Unit: "ratio", FirstResultId: "09f8e7", Location: "eu-west",
		FailingLocations: nil, Locations: 1, Quorum: 1, Summary: "Website Reservations API is up again",
		DetectedAt: timestamppb.New(t0.Add(1500 * time.Millisecond)),
	}
}

func down(check string, i int) *eventsv1.AlertStateChanged {
	at := t0.Add(time.Duration(i) * time.Second)
	return &eventsv1.AlertStateChanged{
		EventId: fmt.Sprintf("e%02d-%s", i, check), CheckId: check, CheckName: "Website " + check,
		Rule: "availability", State: eventsv1.AlertState_ALERT_STATE_DOWN, PreviousState: eventsv1.AlertState_ALERT_STATE_UP,
		At:           timestamppb.New(at),
		Message:      fmt.Sprintf("Website %s is down. availability=50.00%%, threshold=80.00%%, time=%s", check, at.Format(time.RFC3339)),
		Availability: 0.5, Threshold: 0.8, Window: durationpb.New(2 * time.Minute), Samples: 24, Successes: 12,
		LastResultId: "r-last", FirstResultId: "r-first", Kind: "availability", Value: 0.5, Unit: "ratio",
		Location: "eu-west", FailingLocations: []string{"eu-west", "us-east"}, Locations: 3, Quorum: 2,
		Summary: "Website " + check + " is down", DetectedAt: timestamppb.New(at.Add(time.Second)),
	}
}

func degraded() *eventsv1.AlertStateChanged {
	ev := down("checkout", 0)
	ev.EventId, ev.Rule, ev.Kind, ev.Unit, ev.Value, ev.Threshold = "deg-1", "latency-p95", "latency", "ms", 812, 500
	ev.State, ev.Message, ev.Summary = eventsv1.AlertState_ALERT_STATE_DEGRADED, "Website checkout is slow. p95=812ms, threshold=500ms", "Website checkout is slow"
	return ev
}

func stale() *eventsv1.AlertStateChanged {
	ev := down("legacy", 0)
	ev.EventId, ev.State, ev.PreviousState = "stale-1", eventsv1.AlertState_ALERT_STATE_STALE, eventsv1.AlertState_ALERT_STATE_DOWN
	ev.Message, ev.Summary = "Website legacy stopped reporting: no result for 3 intervals; the alert is resolved", "Website legacy stopped reporting"
	ev.Historical = true
	return ev
}

func group() Notification {
	return Notification{
		Events: []*eventsv1.AlertStateChanged{down("search", 1), down("cart", 2), down("login", 3)},
		Group:  map[string]string{"team": "shop"},
		Labels: map[string]map[string]string{"search": {"team": "shop"}, "cart": {"team": "shop"}, "login": {"team": "shop"}},
	}
}

// hook is a test destination: it answers with the scripted statuses (then
// 200) and keeps every request.
type hook struct {
	mu      sync.Mutex
	srv     *httptest.Server
	bodies  [][]byte
	headers []http.Header
	paths   []string
	answer  func(w http.ResponseWriter, r *http.Request, body []byte) bool // true: answered
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		h.headers = append(h.headers, r.Header.Clone())
		h.paths = append(h.paths, r.URL.RequestURI())
		answer := h.answer
		h.mu.Unlock()
		if answer != nil && answer(w, r, body) {
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// destination is the config of a kind pointing at base, with a token
// (a secret) in the URL as the real services have.
func destination(kind, base string) DestinationConfig {
	c := DestinationConfig{Name: "ops-" + kind, Kind: kind, Safety: safedial.Config{Allow: []string{"127.0.0.1"}}}
	switch kind {
	case "webhook":
		c.URL = base + "/hook"
		c.Secret = secrets[5] + " " + secrets[6]
	case "slack":
		c.URL = base + "/services/" + secrets[0]
	case "discord":
		c.URL = base + "/api/webhooks/123456/" + secrets[2]
	case "teams":
		c.URL = base + "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=" + secrets[3]
	case "pagerduty":
		c.URL = base + "/v2/enqueue"
		c.RoutingKey = secrets[4]
	}
	return c
}

func build(t *testing.T, c DestinationConfig) Sink {
	t.Helper()
	if err := c.Validate("destinations[0]"); err != nil {
		t.Fatal(err)
	}
	s, err := Build("destinations[0]", c, Options{
		Links: LinksConfig{BaseURL: "https://picket.example.com"},
		Now:   func() time.Time { return time.Unix(1795000000, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func send(t *testing.T, s Sink, n Notification) error {
	t.Helper()
	err := s.Send(context.Background(), n)
	record(s, err)
	return err
}

// Golden payloads: what each destination receives, byte for byte modulo
// indentation. Run with -update after a deliberate change and review the
// diff. The generic webhook's samples are also validated against the JSON
// Schema (webhook_test.go).
func TestGoldenPayloads(t *testing.T) {
	cases := map[string]Notification{
		"up":       Single(recovery()),
		"down":     Single(down("search", 1)),
		"degraded": Single(degraded()),
		"stale":    Single(stale()),
		"group":    group(),
	}
	for _, kind := range Kinds {
		for name, n := range cases {
			t.Run(kind+"-"+name, func(t *testing.T) {
				h := newHook(t)
				if err := send(t, build(t, destination(kind, h.srv.URL)), n); err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				for i, b := range h.bodies {
					if !json.Valid(b) {
						t.Fatalf("request %d is not JSON: %s", i, b)
					}
					if err := json.Indent(&got, b, "", "  "); err != nil {
						t.Fatal(err)
					}
					got.WriteByte('\n')
				}
				if kind == "pagerduty" && name == "group" && len(h.bodies) != 3 {
					t.Fatalf("pagerduty got %d events for a group of 3", len(h.bodies))
				}
				golden := filepath.Join("testdata", "golden", kind+"-"+name+".json")
				if *update {
					if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if got.String() != string(want) {
					t.Fatalf("%s differs (run with -update to accept)\n got %s\nwant %s", golden, got.String(), want)
				}
			})
		}
	}
}

// What each kind puts where: the checks a reader of the goldens would make.
func TestPayloadContents(t *testing.T) {
	h := newHook(t)
	send(t, build(t, destination("pagerduty", h.srv.URL)), Notification{Events: []*eventsv1.AlertStateChanged{
		down("search", 1), degraded(), recovery(), stale()}})
	var pd []pdEvent
	for _, b := range h.bodies {
		var e pdEvent
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		pd = append(pd, e)
	}
	want := []struct{ action, severity, key string }{
		{"trigger", "critical", "picket/search/availability"},
		{"trigger", "warning", "picket/checkout/latency-p95"},
		{"resolve", "", "picket/reservations/availability"},
		{"resolve", "", "picket/legacy/availability"},
	}
	if len(pd) != len(want) {
		t.Fatalf("%d events, want %d", len(pd), len(want))
	}
	for i, w := range want {
		sev := ""
		if pd[i].Payload != nil {
			sev = pd[i].Payload.Severity
		}
		if pd[i].EventAction != w.action || sev != w.severity || pd[i].DedupKey != w.key || pd[i].RoutingKey != secrets[4] {
			t.Errorf("event %d: %s %s %s, want %+v", i, pd[i].EventAction, sev, pd[i].DedupKey, w)
		}
	}
	h = newHook(t)
	c := destination("pagerduty", h.srv.URL)
	c.Severity = map[string]string{"degraded": "info"}
	send(t, build(t, c), Notification{Events: []*eventsv1.AlertStateChanged{down("search", 1), degraded()}})
	if !strings.Contains(string(h.bodies[0]), `"severity":"critical"`) || !strings.Contains(string(h.bodies[1]), `"severity":"info"`) {
		t.Errorf("severity override: %s %s", h.bodies[0], h.bodies[1])
	}
	if long := PagerDutyDedupKey(strings.Repeat("c", 300), "r"); len(long) > pdDedupKeyMax || long == PagerDutyDedupKey(strings.Repeat("c", 301), "r") {
		t.Errorf("long dedup keys: %d bytes, or not unique", len(long))
	}

	h = newHook(t)
	send(t, build(t, destination("slack", h.srv.URL)), Single(recovery()))
	var sm slackMessage
	json.Unmarshal(h.bodies[0], &sm)
	if sm.Blocks[0].Text.Text != "Website Reservations API is up again" || sm.Blocks[1].Text.Text != recovery().Message ||
		sm.Blocks[2].Accessor == nil || sm.Blocks[2].Accessor.URL != "https://picket.example.com/checks/reservations" {
		t.Errorf("slack message: %s", h.bodies[0])
	}
}

// Slack's limits are in characters; a long message of multi-byte characters
// and escapes is cut on a character boundary, never inside an escape.
func TestSlackTruncatesSafely(t *testing.T) {
	ev := down("search", 1)
	ev.Message = strings.Repeat("é<&>", 2000)
	ev.CheckName = strings.Repeat("🚨", 400)
	b, err := (&Slack{p: &poster{name: "x"}, tmpl: defaultTemplates}).Body(Single(ev))
	if err != nil {
		t.Fatal(err)
	}
	var m slackMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	text := m.Blocks[1].Text.Text
	if n := len([]rune(text)); n > slackSectionMax || !strings.HasSuffix(text, "…") {
		t.Fatalf("section is %d characters, want ≤ %d and cut", n, slackSectionMax)
	}
	if i := strings.LastIndexByte(text, '&'); i >= 0 && !strings.Contains(text[i:], ";") {
		t.Fatalf("cut inside an escape: %q", text[len(text)-20:])
	}
	for _, f := range m.Blocks[2].Fields {
		if len([]rune(f.Text)) > slackFieldMax {
			t.Fatalf("field of %d characters", len([]rune(f.Text)))
		}
	}
	if strings.Contains(text, "<") {
		t.Fatal("unescaped < in mrkdwn")
	}
}

// Every kind classifies the answers the same way: what to retry, when, and
// what is final.
func TestResponseClassification(t *testing.T) {
	httpDate := time.Unix(1795000000, 0).Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status     int
		header     map[string]string
		body       string
		want       Outcome
		retryAfter time.Duration
		kinds      string // only for these kinds, when set
	}{
		{status: 200, want: Delivered},
		{status: 202, want: Delivered},
		{status: 204, want: Delivered},
		{status: 301, header: map[string]string{"Location": "https://elsewhere.example/x?token=1"}, want: Permanent},
		{status: 302, want: Permanent},
		{status: 307, want: Permanent},
		{status: 400, want: Permanent},
		{status: 401, want: Permanent},
		{status: 403, want: Permanent},
		{status: 404, want: Permanent, kinds: "webhook pagerduty teams"},
		{status: 404, want: Gone, kinds: "discord"},
		{status: 404, body: "no_service", want: Gone, kinds: "slack"},
		{status: 404, body: "not found", want: Permanent, kinds: "slack"},
		{status: 410, want: Gone},
		{status: 408, want: Retry},
		{status: 429, want: Retry},
		{status: 429, header: map[string]string{"Retry-After": "7"}, want: Retry, retryAfter: 7 * time.Second},
		{status: 503, header: map[string]string{"Retry-After": httpDate}, want: Retry, retryAfter: 90 * time.Second},
		{status: 503, header: map[string]string{"Retry-After": "soon"}, want: Retry},
		{status: 500, want: Retry},
		{status: 502, want: Retry},
	}
	for _, kind := range Kinds {
		for _, tc := range tests {
			if tc.kinds != "" && !strings.Contains(tc.kinds, kind) {
				continue
			}
			h := newHook(t)
			h.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				return true
			}
			err := send(t, build(t, destination(kind, h.srv.URL)), Single(down("search", 1)))
			got, ra := Classify(err)
			if got != tc.want || ra != tc.retryAfter {
				t.Errorf("%s, status %d %v: %v after %s, want %v after %s (%v)", kind, tc.status, tc.header, got, ra, tc.want, tc.retryAfter, err)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Status != tc.status) {
				t.Errorf("%s, status %d: error %v does not carry the status", kind, tc.status, err)
			}
			if len(h.bodies) != 1 {
				t.Errorf("%s, status %d: %d requests, want 1 (no redirect followed)", kind, tc.status, len(h.bodies))
			}
		}
	}
}

func TestNetworkFailuresAreRetried(t *testing.T) {
	for _, kind := range Kinds {
		// Nothing listens: connection refused.
		h := newHook(t)
		c := destination(kind, h.srv.URL)
		h.srv.Close()
		if o, _ := Classify(send(t, build(t, c), Single(down("search", 1)))); o != Retry {
			t.Errorf("%s: connection refused is %v, want retry", kind, o)
		}
		// A receiver slower than the timeout.
		h = newHook(t)
		release := make(chan struct{})
		h.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return true
		}
		c = destination(kind, h.srv.URL)
		c.Timeout = 50 * time.Millisecond
		err := send(t, build(t, c), Single(down("search", 1)))
		close(release)
		if o, _ := Classify(err); o != Retry || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("%s: a timeout is %v (%v), want retry", kind, o, err)
		}
	}
}

// A response body is read up to max_body_bytes, not to its end.
func TestResponseBodyLimit(t *testing.T) {
	h := newHook(t)
	wrote := make(chan int64, 1)
	h.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.WriteHeader(200)
		var n int64
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for i := 0; i < 64; i++ { // 2 MiB, unless the client stops reading
			m, err := w.(io.Writer).Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
			w.(http.Flusher).Flush()
		}
		wrote <- n
		return true
	}
	c := destination("slack", h.srv.URL)
	c.MaxBodyBytes = 1024
	s := build(t, c)
	got, err := s.(*Slack).p.post(context.Background(), http.Header{}, []byte("{}"))
	record(s, err)
	if err != nil || len(got) != 1024 {
		t.Fatalf("read %d bytes (%v), want 1024", len(got), err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-5": 0, "120": 2 * time.Minute, "99999999": maxRetryAfter, "1.5": 0, "x": 0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		"Sunday, 22-Nov-26 10:01:00 GMT":                  time.Minute, // RFC 850, still allowed
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", v, got, want)
		}
	}
}

// Secrets come from the environment or files; a missing one names the key,
// never a value.
func TestSecretsFromEnvironmentAndFiles(t *testing.T) {
	h := newHook(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "routing-key")
	os.WriteFile(keyFile, []byte(secrets[4]+"\n"), 0o600)
	env := map[string]string{"SLACK_URL": h.srv.URL + "/services/" + secrets[0], "SIGNING": secrets[5]}
	o := Options{Getenv: func(k string) string { return env[k] }}
	for _, c := range []DestinationConfig{
		{Name: "s", Kind: "slack", URLEnv: "SLACK_URL"},
		{Name: "p", Kind: "pagerduty", URL: h.srv.URL + "/v2/enqueue", RoutingKeyFile: keyFile},
		{Name: "w", Kind: "webhook", URL: h.srv.URL + "/w", SecretEnv: "SIGNING"},
	} {
		c.Safety.Allow = []string{"127.0.0.1"}
		if err := c.Validate("destinations[0]"); err != nil {
			t.Fatal(err)
		}
		s, err := Build("destinations[0]", c, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := send(t, s, Single(down("search", 1))); err != nil {
			t.Fatal(err)
		}
	}
	if h.paths[0] != "/services/"+secrets[0] || !strings.Contains(string(h.bodies[1]), secrets[4]) ||
		!strings.HasPrefix(h.headers[2].Get(HeaderWebhookSignature), "v1,") {
		t.Fatalf("secrets not used: %v", h.paths)
	}
	env["BAD"] = "https://hooks.slack.com/services/" + secrets[1] + " not a url"
	for _, tc := range []struct {
		c    DestinationConfig
		want string
	}{
		{DestinationConfig{Name: "s", Kind: "slack", URLEnv: "UNSET"}, "destinations[0].url_env: environment variable UNSET is empty or not set"},
		{DestinationConfig{Name: "s", Kind: "slack", URLFile: filepath.Join(dir, "none")}, "destinations[0].url_file: open "},
		{DestinationConfig{Name: "w", Kind: "webhook", URL: "https://x.example/", SecretEnv: "BAD"}, `destinations[0].secret_env: secret 1 does not start with "whsec_"`},
		{DestinationConfig{Name: "s", Kind: "slack", URLEnv: "BAD"}, `destinations[0].url_env: "https://hooks.slack.com" is not an http(s) URL`},
	} {
		_, err := Build("destinations[0]", tc.c, o)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %s", tc.c, err, tc.want)
		}
		captureLog.Error("build", "err", err)
	}
}

// A receiver that echoes the request (URL and body) into its error answer
// does not get a secret into the error.
func TestErrorsCarryNoSecret(t *testing.T) {
	for _, kind := range Kinds {
		h := newHook(t)
		h.answer = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			w.WriteHeader(400)
			fmt.Fprintf(w, "bad request to %s: %s", r.URL, body)
			return true
		}
		s := build(t, destination(kind, h.srv.URL))
		err := send(t, s, Single(down("search", 1)))
		if err == nil {
			t.Fatalf("%s: no error", kind)
		}
		for _, sec := range secrets {
			if strings.Contains(err.Error(), sec) || strings.Contains(fmt.Sprintf("%v %+v %#v", s, s, s), sec) {
				t.Errorf("%s: secret %q shown: %v / %v", kind, sec, err, s)
			}
		}
		if !strings.Contains(err.Error(), "POST http://127.0.0.1:") {
			t.Errorf("%s: error %q does not name the scheme and host", kind, err)
		}
	}
	// A URL without a path is its own redacted form: still shown.
	h := newHook(t)
	h.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) bool { w.WriteHeader(500); return true }
	err := send(t, build(t, DestinationConfig{Name: "bare", Kind: "webhook", URL: h.srv.URL, Safety: safedialAllowLoopback}), Single(recovery()))
	if want := "webhook bare: POST " + h.srv.URL + ": status 500"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want %s…", err, want)
	}
}

// The network policy holds for every sink: a destination whose name
// resolves to a metadata or private address is refused before connecting,
// permanently; loopback is refused unless allowed.
func TestSinksRefuseUnsafeAddresses(t *testing.T) {
	for _, kind := range Kinds {
		c := destination(kind, "https://hooks.example.com")
		c.Safety = safedial.Config{}
		s, err := Build("destinations[0]", c, Options{
			LookupNetIP: func(context.Context, string, string) ([]netip.Addr, error) {
				return []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("10.0.0.1")}, nil
			},
			BeforeConnect: func(_ string, ap netip.AddrPort) { t.Errorf("%s: connect reached for %s", kind, ap) },
		})
		if err != nil {
			t.Fatal(err)
		}
		err = send(t, s, Single(down("search", 1)))
		if o, _ := Classify(err); o != Permanent || !errors.Is(err, safedial.ErrRefused) {
			t.Errorf("%s: %v (%v), want a permanent refusal", kind, o, err)
		}
		h := newHook(t)
		c = destination(kind, h.srv.URL)
		c.Safety = safedial.Config{}
		err = send(t, build(t, c), Single(down("search", 1)))
		if !errors.Is(err, safedial.ErrRefused) || !strings.Contains(err.Error(), "loopback") || len(h.bodies) != 0 {
			t.Errorf("%s: loopback not refused: %v", kind, err)
		}
	}
}

// A storm of 60 checks is one Slack message within the 50-block limit,
// naming how many more there are.
func TestSlackLargeGroup(t *testing.T) {
	n := Notification{}
	for i := 0; i < 60; i++ {
		n.Events = append(n.Events, down(fmt.Sprintf("c%d", i), i))
	}
	b, err := (&Slack{p: &poster{name: "x"}, tmpl: defaultTemplates}).Body(n)
	if err != nil {
		t.Fatal(err)
	}
	var m slackMessage
	json.Unmarshal(b, &m)
	more := m.Blocks[len(m.Blocks)-2]
	if len(m.Blocks) != slackBlocksMax || m.Blocks[0].Text.Text != "60 alerts changed state" ||
		more.Type != "context" || !strings.Contains(fmt.Sprint(more.Elements), "and 14 more") {
		t.Fatalf("%d blocks, header %q, next to last %+v", len(m.Blocks), m.Blocks[0].Text.Text, more)
	}
}

// Every kind sends the test notification.
func TestSampleNotification(t *testing.T) {
	for _, kind := range Kinds {
		h := newHook(t)
		if err := send(t, build(t, destination(kind, h.srv.URL)), Sample(time.Now())); err != nil || len(h.bodies) != 1 {
			t.Fatalf("%s: %v", kind, err)
		}
		if !strings.Contains(string(h.bodies[0]), "This is a test notification from Picket") {
			t.Errorf("%s: %s", kind, h.bodies[0])
		}
	}
}

func TestNotificationKey(t *testing.T) {
	g := group()
	if k := Single(recovery()).Key(); k != "9f5b155564a4fc45a4ae077e6f68fbea" {
		t.Errorf("single key %s", k)
	}
	k1, k2 := g.Key(), group().Key()
	g.Repeat = 2
	if !strings.HasPrefix(k1, "grp_") || k1 != k2 || g.Key() != k1+"-r2" {
		t.Errorf("group keys %s %s %s", k1, k2, g.Key())
	}
	g.Events = g.Events[1:]
	if g.Key() == k1+"-r2" {
		t.Error("a different group has the same key")
	}
}
