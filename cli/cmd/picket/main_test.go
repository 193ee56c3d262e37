package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/picket-dev/picket/cli/internal/readmetest"
)

// Asking for help is not a failure: every command prints its usage and
// returns no error (the process exits 0), never "flag: help requested".
func TestHelpSucceedsForEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"help"},
		{"dev", "-h"}, {"apply", "-h"}, {"apply", "--help"}, {"migrate", "-h"},
		{"replay", "-h"}, {"replay", "--help"}, {"backtest", "-h"},
		{"notify", "-h"}, {"notify", "redrive", "-h"}, {"notify", "test", "ops", "-h"}, {"status", "-h"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Errorf("picket %q: %v", args, err)
		}
		if out := stdout.String() + stderr.String(); !strings.Contains(out, "usage") && !strings.Contains(out, "-config") {
			t.Errorf("picket %q printed no usage:\n%s", args, out)
		}
	}
}

// Every `picket <command> <flags>` a README shows parses: run with -h after
// the README's arguments, a command accepts them all before printing its
// usage, and refuses an unknown flag or a stray argument.
func TestREADMECommandsParse(t *testing.T) {
	seen := 0
	for _, sp := range readmetest.Spans(t, readmetest.Root(t)) {
		args, ok := sp.Command("picket")
		if !ok || len(args) == 0 || strings.HasPrefix(args[0], "<") {
			continue
		}
		seen++
		var out bytes.Buffer
		if err := run(context.Background(), append(args, "-h"), &out, &out); err != nil {
			t.Errorf("%s: %v\n%s", sp, err, out.String())
		}
	}
	if seen < 4 {
		t.Fatalf("found %d picket commands in the READMEs: the extraction is broken", seen)
	}
	if err := run(context.Background(), []string{"replay", "--form", "24h", "-h"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Fatal("a misspelt flag before -h is accepted: the test would not catch a wrong README command")
	}
}
