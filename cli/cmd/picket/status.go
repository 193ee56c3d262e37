package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/picket-dev/picket/cli/console"
	"github.com/picket-dev/picket/cli/devstack/datadir"
	"github.com/picket-dev/picket/cli/internal/queryapi"
)

const statusUsage = `usage: picket status [--query-url URL] [--label key:value] [--once]

The seed's console dashboard, read from the query API: every 10 s each check's figures over the
past 10 minutes (availability, average and maximum response time and time to first byte, status
codes), every minute over the past hour, and alert messages as they are recorded. On a terminal
the screen is redrawn; otherwise each update is printed as plain lines.

Without --query-url (or PICKET_QUERY_URL) it reads the running ` + "`picket dev`" + ` of ./data (or
--data-dir), else http://127.0.0.1:8080. --token (or PICKET_TOKEN) is sent as a bearer token.`

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("picket status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), statusUsage); fs.PrintDefaults() }
	o := console.DefaultOptions()
	qf := queryapi.AddFlags(fs, os.Getenv)
	dataDir := fs.String("data-dir", "", "read the query API of the picket dev whose data directory is `dir` (default ./data)")
	fs.DurationVar(&o.Short.Every, "short-every", o.Short.Every, "how often the short view is redrawn")
	fs.DurationVar(&o.Short.Window, "short-window", o.Short.Window, "the short view's range, back from now")
	fs.DurationVar(&o.Long.Every, "long-every", o.Long.Every, "how often the long view is redrawn")
	fs.DurationVar(&o.Long.Window, "long-window", o.Long.Window, "the long view's range, back from now")
	fs.DurationVar(&o.AlertsEvery, "alerts-every", o.AlertsEvery, "how often new alert messages are looked for")
	fs.Func("label", "show only checks with this `key:value` label (repeatable)", func(s string) error {
		o.Labels = append(o.Labels, s)
		return nil
	})
	fs.BoolVar(&o.Once, "once", false, "print both views and the past alerts once, as lines, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("status: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.API, err = devQueryClient(qf, *dataDir); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	o.Terminal = !o.Once && isTerminal(stdout)
	if err := console.Run(ctx, o, stdout); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// devQueryClient is the query API client of qf's flags: --query-url (or
// its environment variable), else the API of the picket dev running from
// dataDir (or ./data), else the default URL.
func devQueryClient(qf *queryapi.Flags, dataDir string) (*queryapi.Client, error) {
	fallback := queryapi.DefaultURL
	if !qf.URLGiven() {
		u, err := devQueryURL(dataDir)
		if err != nil {
			return nil, err
		}
		if u != "" {
			fallback = u
		}
	}
	return qf.ClientOr(fallback)
}

// devQueryURL is the query API of the `picket dev` running on dir (default
// ./data); "" when none runs there and dir was not named.
func devQueryURL(dir string) (string, error) {
	named := dir != ""
	if !named {
		dir = devDataDir
	}
	st, err := datadir.Inspect(dir)
	if err != nil {
		return "", err
	}
	switch {
	case st.Running && st.Info.QueryURL != "":
		return st.Info.QueryURL, nil
	case !named:
		return "", nil
	case !st.IsDataDir:
		return "", fmt.Errorf("--data-dir %s: not a `picket dev` data directory (it has no %s)", dir, datadir.LockFile)
	}
	return "", fmt.Errorf("--data-dir %s: no `picket dev` is running there (start it with make run), or give --url", dir)
}
