package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/services/aggregator/replay"
)

// Bad flags and configuration are refused before anything is contacted,
// naming the flag or key.
func TestReplayRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "replay: --from is required: an RFC 3339 time (2026-11-22T10:00:00Z) or a duration ago (24h)"},
		{[]string{"--from", "yesterday"}, `--from "yesterday": want an RFC 3339 time (2026-11-22T10:00:00Z), a duration ago (24h) or now`},
		{[]string{"--from", "-2h"}, `--from "-2h": want an RFC 3339 time (2026-11-22T10:00:00Z), a duration ago (24h) or now`},
		{[]string{"--from", "24h", "--to", "2026-13-01T00:00:00Z"}, `--to "2026-13-01T00:00:00Z": want an RFC 3339 time (2026-11-22T10:00:00Z), a duration ago (24h) or now`},
		{[]string{"--from", "2026-11-21T10:00:00Z", "--to", "2026-11-21T09:00:00+00:00"}, "replay: --to 2026-11-21T09:00:00Z must be after --from 2026-11-21T10:00:00Z"},
		{[]string{"--from", "2h", "--to", "3h"}, "must be after --from"},
		{[]string{"--from", "2999-01-01T00:00:00Z"}, "replay: --from 2999-01-01T00:00:00Z is in the future"},
		{[]string{"--from", "24h", "--batch", "0"}, "replay: --batch 0 must be at least 1"},
		{[]string{"--from", "24h", "--state", ""}, "replay: --state must not be empty: the checkpoint is what makes a replay resumable"},
		{[]string{"--from", "24h", "yesterday"}, `replay: unexpected argument "yesterday"`},
		{[]string{"--from", "24h", "--set", "kafka.results_topic="}, "config: kafka.results_topic: must not be empty"},
		{[]string{"--from", "24h", "--set", "clickhouse.databse=x"}, `config: unknown key "clickhouse.databse"`},
		{[]string{"--from", "24h", "--set", "log.level=loud"}, `config: log.level: "loud" is not one of debug, info, warn, error`},
	} {
		err := run(context.Background(), append([]string{"replay"}, c.args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("picket replay %q: error %v, want %q", c.args, err, c.want)
		}
	}
}

// A time is resumed by its instant, a duration ago by how it was written.
func TestReplayTimeFlagSpelling(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		in, spec string
		at       time.Time
	}{
		{"2026-11-21T01:00:00+01:00", "2026-11-21T00:00:00Z", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)},
		{"2026-11-21T00:00:00.5Z", "2026-11-21T00:00:00.5Z", time.Date(2026, 11, 21, 0, 0, 0, 5e8, time.UTC)},
		{"24h", "24h", now.Add(-24 * time.Hour)},
		{"now", "now", now},
	} {
		at, spec, err := timeFlag("from", c.in, now)
		if err != nil || spec != c.spec || !at.Equal(c.at) {
			t.Errorf("%q: %s %q %v, want %s %q", c.in, at, spec, err, c.at, c.spec)
		}
	}
}

func TestReplaySummaryLines(t *testing.T) {
	from := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	st := replay.State{Topic: "picket.check-results.v1", Database: "picket", Spec: "--from 24h", From: from,
		To: from.Add(24 * time.Hour), Records: 17288, FinishedAt: from.Add(30 * time.Hour)}
	for _, c := range []struct {
		sum  replay.Summary
		want string
	}{
		{replay.Summary{State: st, Records: 17288, Decoded: 17280, Skipped: 8, Duration: 4 * time.Second},
			"replayed 17288 records of picket.check-results.v1 from 2026-11-21T00:00:00Z to 2026-11-22T00:00:00Z into picket in 4s: 17280 written, 8 skipped as undecodable, 4322 records/s\n"},
		{replay.Summary{State: st, Resumed: true, Records: 100, Decoded: 100, Duration: time.Second},
			"resumed: replayed 100 records of picket.check-results.v1 from 2026-11-21T00:00:00Z to 2026-11-22T00:00:00Z into picket in 1s: 100 written, 0 skipped as undecodable, 100 records/s\n"},
		{replay.Summary{State: st, AlreadyFinished: true},
			"replay --from 24h of picket.check-results.v1 into picket already finished at 2026-11-22T06:00:00Z (17288 records, state in r.json); --restart replays it again\n"},
	} {
		var out bytes.Buffer
		ops.PrintReplay(&out, c.sum, "r.json")
		if out.String() != c.want {
			t.Errorf("got  %q\nwant %q", out.String(), c.want)
		}
	}
}
