package deliver

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// Data is what a destination's templates see: the notification's first
// event (for a single event, the event) with its fields at the top level,
// and every event of a group in Events. Documented in the notifier README;
// fields are only ever added.
type Data struct {
	Event
	// Events are all the notification's events, oldest first (Events[0] is
	// the top-level Event).
	Events []Event
	// Count is len(Events).
	Count int
	// Group holds the label values a grouped notification shares.
	Group map[string]string
	// Repeat is n for the n-th reminder of an alert still open, else 0.
	Repeat int
	// Destination is the destination's configured name.
	Destination string
}

// Event is one alert state change as templates see it.
type Event struct {
	ID    string
	Check Check
	Rule  Rule
	// State and PreviousState are "up", "down", "degraded" or "stale".
	State         string
	PreviousState string
	// At is the event time of the deciding result; DetectedAt when the
	// aggregator decided; DownSince, on recovery, when the alert opened (all
	// UTC; zero when unknown).
	At, DetectedAt, DownSince time.Time
	// Message is the aggregator's text, exactly; Summary its one-line title.
	Message, Summary string
	// Reason is why the rule is in State, in one line: what it measured
	// against its threshold, over which results and locations.
	Reason   string
	Evidence Evidence
	Links    Links
	// Labels are the check's labels, when known.
	Labels map[string]string
	// Historical transitions were found late: recorded, never paged.
	Historical bool
}

// Check identifies the check.
type Check struct{ ID, Name string }

// Rule is the alert rule that changed state.
type Rule struct {
	Name, Kind string
	// Threshold is the rule's limit in Unit (a fraction for ratios).
	Threshold float64
	Unit      string
	Window    time.Duration
	// Quorum is how many locations must fail for the check to be down.
	Quorum uint32
}

// Evidence is what the rule measured.
type Evidence struct {
	Value                       float64
	Unit                        string
	Availability                float64
	Samples, Successes          uint32
	FirstResultID, LastResultID string
	Location                    string
	FailingLocations            []string
	Locations                   uint32
}

// Links are pages about the event; empty unless links.base_url is set.
type Links struct{ Check string }

// LinksConfig is where the links in notifications point (`links.base_url`,
// e.g. https://picket.example.com): the check page is base_url/checks/<id>.
type LinksConfig struct {
	BaseURL string `koanf:"base_url"`
}

// Validate names the offending key.
func (l LinksConfig) Validate() error {
	if l.BaseURL == "" {
		return nil
	}
	u, err := url.Parse(l.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("links.base_url: %q is not an http(s) URL", l.BaseURL)
	}
	return nil
}

func (l LinksConfig) check(id string) string {
	if l.BaseURL == "" || id == "" {
		return ""
	}
	return strings.TrimSuffix(l.BaseURL, "/") + "/checks/" + url.PathEscape(id)
}

// NewData is the template context of n for the destination named dest.
func NewData(n Notification, dest string, links LinksConfig) Data {
	d := Data{Count: len(n.Events), Group: n.Group, Repeat: n.Repeat, Destination: dest}
	for _, ev := range n.Events {
		d.Events = append(d.Events, newEvent(ev, n.Labels[ev.GetCheckId()], links))
	}
	if len(d.Events) > 0 {
		d.Event = d.Events[0]
	}
	return d
}

func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

func newEvent(ev *eventsv1.AlertStateChanged, labels map[string]string, links LinksConfig) Event {
	e := Event{
		ID:    ev.GetEventId(),
		Check: Check{ID: ev.GetCheckId(), Name: ev.GetCheckName()},
		Rule: Rule{Name: ev.GetRule(), Kind: ev.GetKind(), Threshold: ev.GetThreshold(), Unit: ev.GetUnit(),
			Window: ev.GetWindow().AsDuration(), Quorum: ev.GetQuorum()},
		State: StateLabel(ev.GetState()), PreviousState: StateLabel(ev.GetPreviousState()),
		Message: ev.GetMessage(), Summary: ev.GetSummary(),
		Evidence: Evidence{Value: ev.GetValue(), Unit: ev.GetUnit(), Availability: ev.GetAvailability(),
			Samples: ev.GetSamples(), Successes: ev.GetSuccesses(), FirstResultID: ev.GetFirstResultId(),
			LastResultID: ev.GetLastResultId(), Location: ev.GetLocation(),
			FailingLocations: ev.GetFailingLocations(), Locations: ev.GetLocations()},
		Links:      Links{Check: links.check(ev.GetCheckId())},
		Labels:     labels,
		Historical: ev.GetHistorical(),
	}
	e.At, e.DetectedAt, e.DownSince = ts(ev.GetAt()), ts(ev.GetDetectedAt()), ts(ev.GetDownSince())
	e.Reason = reason(e)
	return e
}

// FormatValue shows a measured value in its unit: "75.00%", "312ms",
// "5 results", "12 days".
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch unit {
	case "ratio":
		return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
	case "ms":
		return strconv.FormatFloat(v, 'f', -1, 64) + "ms"
	case "burn_rate": // multiples of the error budget's sustainable rate
		return strconv.FormatFloat(v, 'f', 1, 64) + "×"
	case "":
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit
	}
}

func reason(e Event) string {
	var b strings.Builder
	name := e.Rule.Kind
	if name == "" {
		name = e.Rule.Name
	}
	fmt.Fprintf(&b, "%s %s (threshold %s)", name, FormatValue(e.Evidence.Value, e.Evidence.Unit),
		FormatValue(e.Rule.Threshold, e.Rule.Unit))
	if e.Evidence.Samples > 0 {
		fmt.Fprintf(&b, ", %d of %d results succeeded", e.Evidence.Successes, e.Evidence.Samples)
	}
	if e.Rule.Window > 0 {
		fmt.Fprintf(&b, " in %s", e.Rule.Window)
	}
	if len(e.Evidence.FailingLocations) > 0 {
		fmt.Fprintf(&b, ", failing in %s of %d locations", strings.Join(e.Evidence.FailingLocations, ", "), e.Evidence.Locations)
	}
	return b.String()
}

// TemplateConfig is a destination's templates (`template.title`,
// `template.text`); empty means the default.
type TemplateConfig struct {
	Title string `koanf:"title"`
	Text  string `koanf:"text"`
}

// The defaults reproduce what the notifier always sent: a single event's
// text is the aggregator's message exactly; a group lists every message.
const (
	DefaultTitleTemplate = `{{if gt .Count 1}}{{.Count}} alerts changed state{{else if .Summary}}{{.Summary}}{{else}}{{.Check.Name}} is {{.State}}{{end}}`
	DefaultTextTemplate  = `{{if gt .Count 1}}{{range $i, $e := .Events}}{{if $i}}` + "\n" + `{{end}}{{$e.Message}}{{end}}{{else}}{{.Message}}{{end}}`
)

// maxRendered bounds a rendered template: a loop in a template must not
// exhaust memory.
const maxRendered = 256 << 10

var funcs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  func(sep string, s []string) string { return strings.Join(s, sep) },
	"truncate": func(n int, s string) string {
		return truncate(s, n)
	},
	"value": FormatValue,
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
}

// Templates are a destination's parsed, checked templates.
type Templates struct {
	title, text *template.Template
}

var defaultTemplates = mustTemplates(TemplateConfig{})

func mustTemplates(c TemplateConfig) Templates {
	t, err := ParseTemplates(c)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseTemplates parses and checks c against Data: a field that Data does
// not have is an error naming the template ("template.text: …"), so a typo
// refuses to start instead of failing at the first alert.
func ParseTemplates(c TemplateConfig) (Templates, error) {
	var t Templates
	var err error
	if t.title, err = parseChecked("title", c.Title, DefaultTitleTemplate); err != nil {
		return Templates{}, err
	}
	if t.text, err = parseChecked("text", c.Text, DefaultTextTemplate); err != nil {
		return Templates{}, err
	}
	return t, nil
}

func parseChecked(name, text, def string) (*template.Template, error) {
	if text == "" {
		text = def
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template.%s: %w", name, err)
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("template.%s: defining templates is not supported", name)
	}
	c := checker{t: t, root: reflect.TypeFor[Data](), vars: map[string]reflect.Type{"$": reflect.TypeFor[Data]()}}
	if err := c.list(t.Root, c.root); err != nil {
		return nil, fmt.Errorf("template.%s: %w", name, err)
	}
	return t, nil
}

// Render executes the templates on d. A template failing at run time (an
// index out of range, output over the limit) falls back to the default, so
// a broken template never keeps an alert from going out; the error is
// returned alongside for the caller to show.
func (t Templates) Render(d Data) (title, text string, err error) {
	title, err1 := execute(t.title, defaultTemplates.title, d)
	text, err2 := execute(t.text, defaultTemplates.text, d)
	return title, text, errors.Join(err1, err2)
}

func execute(t, fallback *template.Template, d Data) (string, error) {
	var b limitedBuilder
	err := t.Execute(&b, d)
	if err == nil {
		return b.String(), nil
	}
	if t == fallback {
		return "", err
	}
	b = limitedBuilder{}
	if ferr := fallback.Execute(&b, d); ferr != nil {
		return "", errors.Join(err, ferr)
	}
	return b.String(), err
}

type limitedBuilder struct{ strings.Builder }

var errTooLong = fmt.Errorf("rendered text is longer than %d bytes", maxRendered)

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}

// checker walks a template's parse tree knowing the type of dot, so that a
// field chain naming a field the type does not have is found before any
// event arrives. Where a type cannot be known (a function's result, an
// untracked variable) it checks nothing rather than refuse a valid template.
type checker struct {
	t      *template.Template
	root   reflect.Type
	vars   map[string]reflect.Type
	ranges int // ranges open around the node checked
}

// maxRangeDepth bounds nested ranges (the events, then each one's labels).
const maxRangeDepth = 2

func (c *checker) errorf(n parse.Node, format string, args ...any) error {
	loc, _ := c.t.ErrorContext(n)
	return fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...))
}

func (c *checker) list(l *parse.ListNode, dot reflect.Type) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := c.node(n, dot); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) node(n parse.Node, dot reflect.Type) error {
	switch n := n.(type) {
	case *parse.ActionNode:
		_, err := c.pipe(n.Pipe, dot)
		return err
	case *parse.IfNode:
		return c.branch(&n.BranchNode, dot, func(reflect.Type) reflect.Type { return dot })
	case *parse.WithNode:
		return c.branch(&n.BranchNode, dot, func(t reflect.Type) reflect.Type { return t })
	case *parse.RangeNode:
		return c.branch(&n.BranchNode, dot, elem)
	case *parse.TemplateNode:
		return c.errorf(n, "{{template}} is not supported")
	case *parse.ListNode:
		return c.list(n, dot)
	}
	return nil
}

func (c *checker) branch(b *parse.BranchNode, dot reflect.Type, inner func(reflect.Type) reflect.Type) error {
	t, err := c.pipe(b.Pipe, dot)
	if err != nil {
		return err
	}
	if b.NodeType == parse.NodeRange && elem(t) == nil {
		// text/template also ranges over an integer or a function: a
		// {{range 100000000000}} writes nothing, so the output bound never
		// stops it, and it would hold the destination forever. Only the
		// lists of the context may be ranged over.
		return c.errorf(b, "range over %s: only a list or map of the context (e.g. .Events, .Labels) can be ranged over", describe(t))
	}
	if b.NodeType == parse.NodeRange {
		// Ranges over the events of a large group, nested, multiply: three
		// deep over 3,000 events is 27e9 steps, with or without output.
		if c.ranges == maxRangeDepth {
			return c.errorf(b, "ranges nest at most %d deep", maxRangeDepth)
		}
		c.ranges++
		defer func() { c.ranges-- }()
	}
	if b.NodeType == parse.NodeRange && len(b.Pipe.Decl) > 0 {
		// {{range $i, $e := .X}}: the last variable is the element.
		last := b.Pipe.Decl[len(b.Pipe.Decl)-1].Ident[0]
		c.vars[last] = elem(t)
		if len(b.Pipe.Decl) == 2 {
			c.vars[b.Pipe.Decl[0].Ident[0]] = nil
		}
	}
	if err := c.list(b.List, inner(t)); err != nil {
		return err
	}
	return c.list(b.ElseList, dot)
}

func elem(t reflect.Type) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return t.Elem()
	}
	return nil
}

// pipe checks p and returns the type it yields (nil when unknown).
func (c *checker) pipe(p *parse.PipeNode, dot reflect.Type) (reflect.Type, error) {
	if p == nil {
		return nil, nil
	}
	var t reflect.Type
	for i, cmd := range p.Cmds {
		var err error
		if t, err = c.command(cmd, dot); err != nil {
			return nil, err
		}
		if i > 0 {
			t = nil // a function fed by a pipeline: its result is not tracked
		}
	}
	for _, v := range p.Decl {
		if p.IsAssign {
			// {{$x = …}} may run in one branch only: its type is no longer known.
			c.vars[v.Ident[0]] = nil
			continue
		}
		c.vars[v.Ident[0]] = t
	}
	return t, nil
}

func (c *checker) command(cmd *parse.CommandNode, dot reflect.Type) (reflect.Type, error) {
	var t reflect.Type
	for i, arg := range cmd.Args {
		at, err := c.arg(arg, dot)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			t = at
		}
	}
	if len(cmd.Args) > 1 {
		return nil, nil // a function call
	}
	return t, nil
}

func (c *checker) arg(n parse.Node, dot reflect.Type) (reflect.Type, error) {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot, nil
	case *parse.FieldNode:
		return c.fields(n, dot, n.Ident)
	case *parse.VariableNode:
		t, ok := c.vars[n.Ident[0]]
		if !ok || t == nil {
			return nil, nil
		}
		return c.fields(n, t, n.Ident[1:])
	case *parse.ChainNode:
		t, err := c.arg(n.Node, dot)
		if err != nil || t == nil {
			return nil, err
		}
		return c.fields(n, t, n.Field)
	case *parse.PipeNode:
		return c.pipe(n, dot)
	}
	return nil, nil
}

func (c *checker) fields(n parse.Node, t reflect.Type, names []string) (reflect.Type, error) {
	for _, name := range names {
		if t == nil {
			return nil, nil
		}
		if m, ok := t.MethodByName(name); ok {
			if m.Type.NumOut() == 0 {
				return nil, nil
			}
			t = m.Type.Out(0)
			continue
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := t.FieldByName(name)
			if !ok || !f.IsExported() {
				return nil, c.errorf(n, "%s has no field %q", typeName(t), name)
			}
			t = f.Type
		case reflect.Interface:
			return nil, nil
		default:
			return nil, c.errorf(n, "cannot take field %q of a %s", name, typeName(t))
		}
	}
	return t, nil
}

// describe names t for an error; nil is a value whose type is not known
// here (a literal, a function's result).
func describe(t reflect.Type) string {
	if t == nil {
		return "a value that is not a list"
	}
	return typeName(t)
}

func typeName(t reflect.Type) string {
	if t.PkgPath() != "" {
		return t.Name()
	}
	return t.String()
}
