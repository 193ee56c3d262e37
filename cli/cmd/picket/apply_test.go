package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/services/prober"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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
