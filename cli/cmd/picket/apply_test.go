package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/logtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/poll"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober"
)

func TestApplyPublishesAndPrunes(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := "kafka.brokers=" + cluster.ListenAddrs()[0]
	file := filepath.Join(t.TempDir(), "checks.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runApply := func(extra ...string) string {
		var out bytes.Buffer
		args := append([]string{"apply", "-f", file, "--set", broker}, extra...)
		if err := run(context.Background(), args, &out, &out); err != nil {
			t.Fatalf("picket %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	write("checks:\n  - {id: a, http: {url: 'http://a.test/'}}\n  - {id: b, http: {url: 'http://b.test/'}}\n")
	if got := runApply(); got != "applied to picket.check-definitions.v1: 2 created, 0 updated, 0 deleted, 0 unchanged\n  + a, b\n" {
		t.Fatalf("first apply:\n%s", got)
	}
	write("checks:\n  - {id: a, http: {url: 'http://a2.test/'}}\n")
	if got := runApply("--prune", "--dry-run"); got != "would apply (dry run) to picket.check-definitions.v1: 0 created, 1 updated, 1 deleted, 0 unchanged\n  ~ a\n  - b\n" {
		t.Fatalf("dry run:\n%s", got)
	}
	if got := runApply("--prune"); got != "applied to picket.check-definitions.v1: 0 created, 1 updated, 1 deleted, 0 unchanged\n  ~ a\n  - b\n" {
		t.Fatalf("prune:\n%s", got)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	defs, err := prober.ReadDefinitions(context.Background(), cl, kafka.DefaultConfig().ChecksTopic)
	if err != nil || len(defs) != 1 || !bytes.Contains(defs["a"], []byte("http://a2.test/")) {
		t.Fatalf("published definitions %q, %v", defs, err)
	}
}

func TestApplyRefusesAnInvalidFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "checks.yaml")
	os.WriteFile(file, []byte("checks:\n  - {id: a, http: {url: 'gopher://a.test/'}}\n"), 0o644)
	err := run(context.Background(), []string{"apply", "-f", file}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || err.Error() != "checks file "+file+`: checks[0] (a): http.url: "gopher://a.test/" must be an http or https URL` {
		t.Fatalf("error %v", err)
	}
}

func TestDevNeedsTheEmbeddedBuild(t *testing.T) {
	err := run(context.Background(), []string{"dev"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("a build without -tags embedded ran dev")
	}
}

// `picket apply` runs where neither the probers' secrets nor their CA files
// are: it publishes them as references (a variable's name, a path), and the
// prober that runs the check resolves them. A prober that lacks one reports
// every run of that check as an internal failure naming what is missing.
func TestApplyPublishesReferencesTheProberResolves(t *testing.T) {
	const tokenEnv, missingEnv = "PICKET_TEST_APPLY_TOKEN", "PICKET_TEST_APPLY_MISSING"
	for _, env := range []string{tokenEnv, missingEnv} {
		t.Setenv(env, "") // restored after the test
		os.Unsetenv(env)
	}
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "prober-ca.pem") // not on the applying machine

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	file := filepath.Join(t.TempDir(), "checks.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`checks:
  - id: secure
    interval: 100ms
    http: {url: %[1]q, bearer_token_env: %[2]s, tls: {ca_file: %[3]q}}
  - id: no-secret
    interval: 100ms
    http: {url: %[1]q, basic_auth: {username: synth, password_env: %[4]s}, tls: {ca_file: %[3]q}}
`, srv.URL, tokenEnv, caFile, missingEnv)), 0o644)
	var out bytes.Buffer
	args := []string{"apply", "-f", file, "--set", "kafka.brokers=" + cluster.ListenAddrs()[0]}
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("picket apply without the secret and the CA file: %v\n%s", err, out.String())
	}
	if got := out.String(); got != "applied to picket.check-definitions.v1: 2 created, 0 updated, 0 deleted, 0 unchanged\n  + no-secret, secure\n" {
		t.Fatalf("apply:\n%s", got)
	}
	kc := kafka.DefaultConfig()
	kc.Brokers = cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	defs, err := prober.ReadDefinitions(context.Background(), cl, kc.ChecksTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bearer_token_env: " + tokenEnv, "ca_file: " + caFile} {
		if !strings.Contains(string(defs["secure"]), want) {
			t.Fatalf("published definition lacks %q:\n%s", want, defs["secure"])
		}
	}

	// The prober's machine has the CA file and the token, not the password.
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(tokenEnv, "t0k,en")
	var logs logtest.Buffer
	cfg := prober.DefaultConfig()
	cfg.Kafka, cfg.Source, cfg.Outbox.Dir = kc, "kafka", t.TempDir()
	cfg.Fleet.SessionTimeout = 2 * time.Second
	p, err := prober.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("prober: %v", err)
		}
	}()

	results, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...), kgo.ConsumeTopics(kc.ResultsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	last := map[string]*eventsv1.CheckResult{}
	poll.Until(t, 30*time.Second, "a verified, authorised run of secure and an internal failure of no-secret",
		func() (bool, string) {
			pctx, pcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer pcancel()
			results.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				var res eventsv1.CheckResult
				if proto.Unmarshal(r.Value, &res) == nil {
					last[res.CheckId] = &res
				}
			})
			s, n := last["secure"], last["no-secret"]
			ok := s != nil && s.Success && s.GetCertificate().GetVerified() &&
				n != nil && n.FailureClass == eventsv1.FailureClass_FAILURE_CLASS_INTERNAL &&
				n.FailureMessage == "check cannot run on this prober: http.basic_auth.password_env: environment variable "+missingEnv+" is not set"
			return ok, fmt.Sprintf("secure %v, no-secret %v", s, n)
		})
	mu.Lock()
	for _, a := range auth {
		if a != "Bearer t0k,en" {
			t.Errorf("the server saw Authorization %q, want the token from %s", a, tokenEnv)
		}
	}
	mu.Unlock()
	if l := logs.String(); !strings.Contains(l, "check cannot run on this prober") || !strings.Contains(l, missingEnv) {
		t.Fatalf("no error log naming %s:\n%s", missingEnv, l)
	}
}
