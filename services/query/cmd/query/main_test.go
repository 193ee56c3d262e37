package main

import (
	"context"
	"io"
	"testing"
)

// An invalid configuration stops the binary before it touches anything.
func TestRunRefusesInvalidConfig(t *testing.T) {
	err := run(context.Background(), []string{"--set", "clickhouse.database=picket-prod"}, io.Discard)
	want := `config: clickhouse.database: database name "picket-prod": want letters, digits and underscores, not starting with a digit`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
}

// A bad SLO in the file stops the binary naming its key.
func TestRunRefusesInvalidSLO(t *testing.T) {
	err := run(context.Background(), []string{"--config", "../../testdata/invalid-slo-objective.yaml"}, io.Discard)
	want := "config: slos[0].objective: 99.9: want a fraction above 0 and below 1, like 0.999"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
}
