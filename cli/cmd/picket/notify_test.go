package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/notifier"
)

// The notify subcommands refuse what they cannot act on, naming the flag.
func TestNotifyRefusesBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"notify"}, "no subcommand"},
		{[]string{"notify", "resend"}, `unknown subcommand "resend"`},
		{[]string{"notify", "redrive", "--from", "1h"}, "--destination is required"},
		{[]string{"notify", "redrive", "--destination", "ops"}, "--from is required"},
		{[]string{"notify", "redrive", "--destination", "ops", "--from", "1h", "--to", "2h"}, "must be after --from"},
		{[]string{"notify", "test"}, "want one DESTINATION"},
		{[]string{"notify", "test", "nope"}, `no destination is named "nope"`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), c.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("picket %q: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// `picket notify redrive` re-sends a destination's parked events through the
// configured sink, once each, with the webhook-id they were parked with.
func TestNotifyRedriveResendsParkedEvents(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "picket.notify-dead-letter.v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		mu.Unlock()
	}))
	defer srv.Close()
	ev, err := proto.Marshal(&eventsv1.AlertStateChanged{EventId: "e1", CheckId: "api", Rule: "availability", State: eventsv1.AlertState_ALERT_STATE_DOWN})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	park := func(dest, key string) *kgo.Record {
		hs := append(kafka.Headers(events.AlertStateChangedV1),
			kgo.RecordHeader{Key: notifier.HeaderParkDestination, Value: []byte(dest)},
			kgo.RecordHeader{Key: notifier.HeaderParkKey, Value: []byte(key)})
		return &kgo.Record{Topic: "picket.notify-dead-letter.v1", Key: []byte(dest), Value: ev, Headers: hs}
	}
	if err := cl.ProduceSync(context.Background(), park("ops", "e1"), park("other", "e1")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "notifier.yaml")
	yaml := fmt.Sprintf("kafka:\n  brokers: [%q]\nsafety:\n  allow: [127.0.0.1]\nwebhooks:\n  - {name: ops, url: %q}\n  - {name: other, url: %q}\n",
		cluster.ListenAddrs()[0], srv.URL+"/hook", srv.URL+"/other")
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"notify", "redrive", "--config", cfgFile, "--destination", "ops", "--from", "1h"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), "redrive ops: 1 sent, 0 failed") || fmt.Sprint(ids) != "[e1]" {
		t.Fatalf("output %q, webhook-ids %v: want one event re-sent to ops with its id", out.String(), ids)
	}
}
