package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/retry"
)

// An existing alert or checks topic that retention would empty is refused,
// once, with the command that fixes it; the topics a caller does not use,
// and correct ones, are not.
func TestEnsureTopicsRefusesACompactedTopicWithAnotherPolicy(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := DefaultConfig()
	c.Brokers = cluster.ListenAddrs()
	ctx := context.Background()
	// Created before Picket started, with the broker's default policy.
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, c.AlertsTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")}, c.ChecksTopic); err != nil {
		t.Fatal(err)
	}

	err = EnsureTopics(ctx, cl, c, c.ResultsTopic, c.AlertsTopic)
	if !errors.Is(err, ErrTopicPolicy) {
		t.Fatalf("alert topic with cleanup.policy=delete: %v", err)
	}
	if p := (retry.Permanent{}); !errors.As(err, &p) {
		t.Errorf("not permanent, a service would retry it forever: %v", err)
	}
	want := "topic picket.alert-state.v1 has cleanup.policy=delete; it must be compact: kafka-configs --bootstrap-server " +
		c.Brokers[0] + " --alter --entity-type topics --entity-name picket.alert-state.v1 --add-config cleanup.policy=compact"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not say %q", err, want)
	}
	if strings.Contains(err.Error(), c.ChecksTopic) {
		t.Errorf("names the checks topic the caller does not use: %v", err)
	}

	err = EnsureTopics(ctx, cl, c, c.ChecksTopic)
	if !errors.Is(err, ErrTopicPolicy) || !strings.Contains(err.Error(), "topic picket.check-definitions.v1 has cleanup.policy=compact,delete; it must be compact") {
		t.Fatalf("checks topic with cleanup.policy=compact,delete: %v", err)
	}
	if err := EnsureTopics(ctx, cl, c, c.ResultsTopic, c.DeadLetterTopic); err != nil {
		t.Fatalf("topics with no required policy: %v", err)
	}

	// Fixed as the message says: accepted.
	for _, topic := range []string{c.AlertsTopic, c.ChecksTopic} {
		resp, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, topic)
		if err == nil {
			_, err = resp.On(topic, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := EnsureTopics(ctx, cl, c, c.AlertsTopic, c.ChecksTopic); err != nil {
		t.Fatalf("after the fix: %v", err)
	}
}

// Topics Picket creates itself pass; a used topic that does not exist and
// is not created is a transient error naming it.
func TestEnsureTopicsCreatesCompactedTopics(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := DefaultConfig()
	c.Brokers = cluster.ListenAddrs()
	c.CreateTopics = false
	err = EnsureTopics(context.Background(), cl, c, c.AlertsTopic)
	if p := (retry.Permanent{}); err == nil || errors.As(err, &p) || !strings.Contains(err.Error(), "topic picket.alert-state.v1 does not exist") {
		t.Fatalf("missing topic: %v", err)
	}
	c.CreateTopics = true
	if err := EnsureTopics(context.Background(), cl, c, c.AlertsTopic, c.ChecksTopic); err != nil {
		t.Fatal(err)
	}
}
