package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBacktestFlagErrors(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := map[string]string{
		"--from 24h":                                         "backtest: --rules rules.yaml is required",
		"--rules r.yaml":                                     "backtest: --from is required",
		"--rules r.yaml --from yesterday":                    `--from "yesterday": want an RFC 3339 time (2026-11-22T10:00:00Z), a duration ago (24h) or now`,
		"--rules r.yaml --from 1h --to 2h":                   "backtest: --to 2026-11-22T10:00:00Z must be after --from 2026-11-22T11:00:00Z",
		"--rules r.yaml --from 2026-11-22T10:00:00Z --to -1": `--to "-1": want an RFC 3339 time (2026-11-22T10:00:00Z), a duration ago (24h) or now`,
	}
	for args, want := range tests {
		_, err := parseBacktest(strings.Fields(args), now, io.Discard)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v\nwant %s", args, err, want)
		}
	}
	f, err := parseBacktest(strings.Fields("--rules r.yaml --from 24h --check api,web"), now, io.Discard)
	if err != nil || !f.opts.From.Equal(now.Add(-24*time.Hour)) || !f.opts.To.Equal(now) || strings.Join(f.opts.Checks, " ") != "api web" {
		t.Fatalf("parsed %+v %v", f.opts, err)
	}
}

func TestBacktestRulesFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rules, err := loadRules(write("ok.yaml", "alerting:\n  rules:\n    strict:\n      kind: availability\n      threshold: 0.99\n      window: 5m\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Only the file's rules: the aggregator's default rule is not added.
	if got := rules.For("api"); len(got) != 1 || got[0].Name != "strict" || got[0].Threshold != 0.99 {
		t.Fatalf("rules %+v", got)
	}
	p := write("bad.yaml", "alerting:\n  rules:\n    strict:\n      kind: availability\n      threshold: 99\n      window: 5m\n")
	if _, err := loadRules(p); err == nil || err.Error() != "rules "+p+": config: alerting.rules.strict.threshold: 99 must be in (0, 1]" {
		t.Fatalf("bad rules: %v", err)
	}
	p = write("slo.yaml", "alerting:\n  rules:\n    slo:\n      kind: burn_rate\n      objective: 99.9\n")
	if _, err := loadRules(p); err == nil || err.Error() != "rules "+p+": config: alerting.rules.slo.objective: 99.9 must be in (0, 1), e.g. 0.999" {
		t.Fatalf("bad objective: %v", err)
	}
	p = write("empty.yaml", "alerting:\n  lateness: 5s\n")
	if _, err := loadRules(p); err == nil || !strings.HasSuffix(err.Error(), "alerting.rules: no rules to backtest") {
		t.Fatalf("empty rules: %v", err)
	}
}
