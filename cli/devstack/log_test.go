package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/logtest"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/kafka"
)

// logLines returns what a Kafka client producing one record and one line of
// Picket's own log at info write under c.
func logLines(t *testing.T, c LogConfig) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var out logtest.Buffer
	log := NewLogger(c, &out)
	kc := kafka.DefaultConfig()
	kc.Brokers = cluster.ListenAddrs()
	cl, err := kgo.NewClient(append(kc.ClientOptions(log), kgo.DefaultProduceTopic("t"))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	log.Info("picket's own line", "service", "prober")
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// By default the libraries log at warn: franz-go's INFO chatter does not
// bury the banner, while Picket's own info lines stay.
func TestLibraryLinesAreAtWarnByDefault(t *testing.T) {
	c := DefaultLog()
	c.Format = "text"
	lines := logLines(t, c)
	if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "picket's own line") {
		t.Fatalf("default: want only Picket's own line, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	c.LibraryLevel = "info"
	if lines := logLines(t, c); len(lines) < 3 {
		t.Fatalf("log.library_level=info: want franz-go's info lines too, got:\n%s", strings.Join(lines, "\n"))
	}
	c.Level, c.LibraryLevel = "error", "debug"
	for _, l := range logLines(t, c) {
		if strings.Contains(l, "picket's own line") {
			t.Fatalf("log.level=error still logs Picket's info lines: %s", l)
		}
	}
}

func TestLibraryLevelIsValidated(t *testing.T) {
	c := DefaultLog()
	c.LibraryLevel = "chatty"
	if err := c.Validate(); err == nil || err.Error() != `log.library_level: "chatty" is not one of debug, info, warn, error` {
		t.Fatalf("invalid library level: %v", err)
	}
}
