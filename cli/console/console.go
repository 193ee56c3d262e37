// Package console is `picket status`: the seed's console dashboard, read
// from the query API. Every Short.Every it shows each check's figures over
// Short.Window (10 s / past 10 minutes by default), every Long.Every over
// Long.Window (1 minute / past hour), and alert messages as they are
// recorded. On a terminal the screen is redrawn; otherwise each update is
// printed as plain lines, for logs and pipes.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picket-dev/picket/cli/internal/queryapi"
	"github.com/picket-dev/picket/services/query/api"
)

// View is one of the dashboard's two views: figures over Window, redrawn
// Every.
type View struct {
	Every, Window time.Duration
}

// Options configure a dashboard.
type Options struct {
	// API is the query API's client.
	API *queryapi.Client
	// Short and Long are the two views.
	Short, Long View
	// AlertsEvery is how often new alert messages are looked for.
	AlertsEvery time.Duration
	// Labels select the checks shown (key:value, every one must match).
	Labels []string
	// Once shows each view and the recent alerts once and returns.
	Once bool
	// Terminal redraws the screen instead of printing lines.
	Terminal bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultOptions are the seed's: every 10 s the past 10 minutes, every
// minute the past hour, alerts every 2 s.
func DefaultOptions() Options {
	return Options{Short: View{10 * time.Second, 10 * time.Minute},
		Long: View{time.Minute, time.Hour}, AlertsEvery: 2 * time.Second}
}

// Validate names the offending option.
func (o Options) Validate() error {
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"short-every", o.Short.Every}, {"short-window", o.Short.Window}, {"long-every", o.Long.Every},
		{"long-window", o.Long.Window}, {"alerts-every", o.AlertsEvery}} {
		if v.d <= 0 {
			return fmt.Errorf("--%s: %s must be positive", v.name, v.d)
		}
	}
	if o.API == nil {
		return errors.New("no query API client")
	}
	return nil
}

// Run shows the dashboard on out until ctx ends (or once, with Once). A
// query API that does not answer is shown as such, with the time of the
// last good figures, and tried again at the next update; Run returns an
// error only for Once.
func Run(ctx context.Context, o Options, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &dashboard{o: o, out: out, seen: map[string]bool{}}
	if o.Once {
		short, err1 := d.view(ctx, o.Short)
		long, err2 := d.view(ctx, o.Long)
		alerts, err3 := d.newAlerts(ctx)
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		d.short, d.long, d.alerts = short, long, alerts
		d.print(short, long, alerts)
		return nil
	}
	return d.loop(ctx)
}

// dashboard is the state shown.
type dashboard struct {
	o   Options
	out io.Writer

	mu          sync.Mutex
	short, long *snapshot
	alerts      []api.AlertJSON // newest last, the recent ones
	seen        map[string]bool // alert event ids shown
}

// snapshot is one view's figures at one time, or why there are none.
type snapshot struct {
	view   View
	at     time.Time
	checks []checkFigures
	err    error
}

type checkFigures struct {
	check api.CheckJSON
	stats api.StatsJSON
}

// maxAlertsShown bounds the alert lines a terminal shows.
const maxAlertsShown = 15

func (d *dashboard) loop(ctx context.Context) error {
	short := time.NewTicker(d.o.Short.Every)
	long := time.NewTicker(d.o.Long.Every)
	alerts := time.NewTicker(d.o.AlertsEvery)
	defer short.Stop()
	defer long.Stop()
	defer alerts.Stop()
	update := func(which string) {
		switch which {
		case "short":
			s, _ := d.view(ctx, d.o.Short)
			d.show(func() { d.short = s }, s, nil, nil)
		case "long":
			s, _ := d.view(ctx, d.o.Long)
			d.show(func() { d.long = s }, nil, s, nil)
		case "alerts":
			as, err := d.newAlerts(ctx)
			if err != nil {
				return // shown with the next view update, which fails the same way
			}
			d.show(func() {
				d.alerts = append(d.alerts, as...)
				if n := len(d.alerts) - maxAlertsShown; n > 0 {
					d.alerts = d.alerts[n:]
				}
			}, nil, nil, as)
		}
	}
	update("alerts")
	update("short")
	update("long")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-short.C:
			update("short")
		case <-long.C:
			update("long")
		case <-alerts.C:
			update("alerts")
		}
	}
}

// show applies change and draws: the whole screen on a terminal, only what
// changed (s, l, as) otherwise.
func (d *dashboard) show(change func(), s, l *snapshot, as []api.AlertJSON) {
	d.mu.Lock()
	defer d.mu.Unlock()
	change()
	if d.o.Terminal {
		var b strings.Builder
		b.WriteString("\x1b[H\x1b[2J")
		fmt.Fprintf(&b, "picket status — %s — %s\n\n", d.o.API.URL, d.o.Now().UTC().Format(time.RFC3339))
		writeTable(&b, d.short)
		writeTable(&b, d.long)
		b.WriteString("Alerts\n")
		if len(d.alerts) == 0 {
			b.WriteString("  none\n")
		}
		for _, a := range d.alerts {
			b.WriteString("  " + alertLine(a) + "\n")
		}
		io.WriteString(d.out, b.String())
		return
	}
	d.print(s, l, as)
}

func (d *dashboard) print(s, l *snapshot, as []api.AlertJSON) {
	var b strings.Builder
	for _, a := range as {
		b.WriteString("alert " + alertLine(a) + "\n")
	}
	for _, sn := range []*snapshot{s, l} {
		if sn != nil {
			writeLines(&b, sn)
		}
	}
	io.WriteString(d.out, b.String())
}

// view reads every selected check's figures over v.Window.
func (d *dashboard) view(ctx context.Context, v View) (*snapshot, error) {
	s := &snapshot{view: v, at: d.o.Now()}
	q := url.Values{"window": {window(v.Window)}, "limit": {"10000"}}
	for _, l := range d.o.Labels {
		q.Add("label", l)
	}
	var list api.CheckListJSON
	if err := d.get(ctx, "/api/v1/checks", q, &list); err != nil {
		s.err = err
		return s, err
	}
	s.checks = make([]checkFigures, len(list.Checks))
	// A few at a time: figures of many checks without a burst of requests.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make([]error, len(list.Checks))
	for i, c := range list.Checks {
		s.checks[i].check = c
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = d.get(ctx, "/api/v1/checks/"+url.PathEscape(c.ID)+"/stats", url.Values{"window": {window(v.Window)}}, &s.checks[i].stats)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.err = err
		return s, err
	}
	slices.SortFunc(s.checks, func(a, b checkFigures) int { return strings.Compare(a.check.ID, b.check.ID) })
	return s, nil
}

// newAlerts are the alerts recorded over the long window not shown yet,
// oldest first.
func (d *dashboard) newAlerts(ctx context.Context) ([]api.AlertJSON, error) {
	var page api.AlertsJSON
	q := url.Values{"window": {window(d.o.Long.Window)}, "limit": {"200"}}
	if err := d.get(ctx, "/api/v1/alerts", q, &page); err != nil {
		return nil, err
	}
	var out []api.AlertJSON
	for _, a := range page.Alerts {
		if !d.seen[a.EventID] {
			out = append(out, a)
		}
	}
	// The set of ids shown is what the window still returns, so it stays
	// bounded; an alert leaving the window is not shown again.
	d.seen = map[string]bool{}
	for _, a := range page.Alerts {
		d.seen[a.EventID] = true
	}
	slices.SortStableFunc(out, func(a, b api.AlertJSON) int { return a.At.Compare(b.At) })
	return out, nil
}

// get reads path?q into v.
func (d *dashboard) get(ctx context.Context, path string, q url.Values, v any) error {
	return d.o.API.Get(ctx, path, q, v)
}

// window renders d as the API's window parameter.
func window(d time.Duration) string { return d.String() }
