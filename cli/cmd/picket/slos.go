package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/picket-dev/picket/cli/internal/queryapi"
	"github.com/picket-dev/picket/services/query/api"
)

const slosUsage = `usage: picket slos [--query-url URL] [--json] [NAME]

The SLOs the query API serves (slos in its configuration, query.slos in ` + "`picket dev`" + `'s), one line
each: objective, window, budgeting, achieved, the error budget remaining (as a fraction of the
window's budget, and in events or minutes), and the burn rates over 5m, 30m, 1h, 6h and 3d (1 spends
the budget exactly over the window; "-" where the window holds no event); then one line per check it
covers. With NAME only that SLO; with --json the API's answer as it is.

Without --query-url (or PICKET_QUERY_URL) it reads the running ` + "`picket dev`" + ` of ./data (or
--data-dir), else http://127.0.0.1:8080. --token (or PICKET_TOKEN) is sent as a bearer token.`

func slosCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("picket slos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), slosUsage); fs.PrintDefaults() }
	qf := queryapi.AddFlags(fs, os.Getenv)
	dataDir := fs.String("data-dir", "", "read the query API of the picket dev whose data directory is `dir` (default ./data)")
	asJSON := fs.Bool("json", false, "print the query API's JSON answer instead of lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	name := fs.Arg(0)
	if fs.NArg() > 1 { // flags after the name
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("slos: unexpected argument %q (give at most one SLO name)", fs.Arg(0))
		}
	}
	client, err := devQueryClient(qf, *dataDir)
	if err != nil {
		return fmt.Errorf("slos: %w", err)
	}
	var slos []api.SLOJSON
	var answer any
	if name != "" {
		var one api.SLOJSON
		if err := client.Get(ctx, "/api/v1/slos/"+url.PathEscape(name), nil, &one); err != nil {
			return fmt.Errorf("slos: %w", err)
		}
		slos, answer = []api.SLOJSON{one}, one
	} else {
		var all api.SLOsJSON
		if err := client.Get(ctx, "/api/v1/slos", nil, &all); err != nil {
			return fmt.Errorf("slos: %w", err)
		}
		slos, answer = all.SLOs, all
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(answer)
	}
	if len(slos) == 0 {
		fmt.Fprintln(stdout, "no SLOs are configured (slos in the query service's configuration, query.slos in picket dev's)")
		return nil
	}
	for _, s := range slos {
		fmt.Fprintln(stdout, sloLine(s))
		for _, c := range s.Checks {
			fmt.Fprintf(stdout, "  check=%s %s\n", c.CheckID, sloFigures(c))
		}
	}
	return nil
}

// sloLine is an SLO's line: what it promises, then its figures over every
// check it covers.
//
//	slo=payments objective=99.9% window=30d budgeting=occurrences checks=2 good=… bad=… achieved=99.950% budget_remaining=50.00% (21.6 of 43.2 events) burn_5m=0.00 …
func sloLine(s api.SLOJSON) string {
	budgeting := s.Budgeting
	if s.SliceSeconds > 0 {
		budgeting += "/" + windowText(s.SliceSeconds)
	}
	return fmt.Sprintf("slo=%s objective=%s%% window=%s budgeting=%s checks=%d %s", s.Name, number(s.Objective*100),
		windowText(s.WindowSeconds), budgeting, len(s.Checks), sloFigures(s.Total))
}

// sloFigures are one set of figures as key=value pairs; "-" for a figure
// without any event.
func sloFigures(f api.SLOFiguresJSON) string {
	b := f.ErrorBudget
	remaining := "-"
	if b.RemainingFraction != nil {
		remaining = fmt.Sprintf("%.2f%% (%s of %s %s)", *b.RemainingFraction*100, number(b.Remaining), number(b.Total), b.Unit)
	}
	r := f.BurnRates
	return fmt.Sprintf("good=%d bad=%d achieved=%s budget_remaining=%s burn_5m=%s burn_30m=%s burn_1h=%s burn_6h=%s burn_3d=%s",
		f.Good, f.Bad, percentOrDash(f.Achieved), remaining, rate(r.M5), rate(r.M30), rate(r.H1), rate(r.H6), rate(r.D3))
}

func percentOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f%%", *v*100)
}

func rate(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

// number is v to four decimals, in the fewest digits that say it (99.9,
// 43.2, -6.4, 17280).
func number(v float64) string { return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64) }

// windowText writes seconds as whole days, hours or minutes when they are
// (30d, 6h, 1m), else as a Go duration.
func windowText(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
