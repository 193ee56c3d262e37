package deliver

import (
	"strings"
	"testing"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// The default templates reproduce the seed's text exactly: a single event's
// text is the aggregator's message, its title the summary.
func TestDefaultTemplatesReproduceTheMessage(t *testing.T) {
	for _, ev := range []*eventsv1.AlertStateChanged{recovery(), down("search", 1), degraded(), stale()} {
		title, text, err := defaultTemplates.Render(NewData(Single(ev), "ops", LinksConfig{}))
		if err != nil || text != ev.GetMessage() || title != ev.GetSummary() {
			t.Errorf("%s: title %q text %q (%v), want %q / %q", ev.GetEventId(), title, text, err, ev.GetSummary(), ev.GetMessage())
		}
	}
	g := group()
	title, text, _ := defaultTemplates.Render(NewData(g, "ops", LinksConfig{}))
	want := g.Events[0].GetMessage() + "\n" + g.Events[1].GetMessage() + "\n" + g.Events[2].GetMessage()
	if title != "3 alerts changed state" || text != want {
		t.Errorf("group: %q / %q", title, text)
	}
	noSummary := down("x", 1)
	noSummary.Summary = ""
	if title, _, _ := defaultTemplates.Render(NewData(Single(noSummary), "ops", LinksConfig{})); title != "Website x is down" {
		t.Errorf("title without summary: %q", title)
	}
}

func TestCustomTemplates(t *testing.T) {
	tm, err := ParseTemplates(TemplateConfig{
		Title: `[{{upper .State}}] {{.Check.Name}}{{if .Historical}} (historical){{end}}`,
		Text: `{{.Reason}} · {{.Links.Check}} · team={{.Labels.team}} · {{value .Evidence.Value .Evidence.Unit}} · ` +
			`{{.At.Format "15:04"}} · {{range $i, $e := .Events}}{{$e.Check.ID}} {{end}}{{with .Rule}}{{.Kind}}/{{.Window}}{{end}} · {{.Group.team}} · {{$.Count}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	title, text, err := tm.Render(NewData(group(), "ops", LinksConfig{BaseURL: "https://p.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	want := "availability 50.00% (threshold 80.00%), 12 of 24 results succeeded in 2m0s, failing in eu-west, us-east of 3 locations · " +
		"https://p.example/checks/search · team=shop · 50.00% · 10:05 · search cart login availability/2m0s · shop · 3"
	if title != "[DOWN] Website search" || text != want {
		t.Fatalf("title %q\ntext %q\nwant %q", title, text, want)
	}
}

// A template naming a field the context does not have is refused when the
// configuration is checked, naming the template and where.
func TestTemplateUnknownFieldRefused(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{.Chekc.Name}}`:                               `template.text: text:1:8: Data has no field "Chekc"`,
		`{{.Check.Nmae}}`:                               `template.text: text:1:8: Check has no field "Nmae"`,
		`{{range .Events}}{{.Stat}}{{end}}`:             `Event has no field "Stat"`,
		`{{range $e := .Events}}{{$e.Rule.Foo}}{{end}}`: `Rule has no field "Foo"`,
		`{{with .Evidence}}{{.Vaule}}{{end}}`:           `Evidence has no field "Vaule"`,
		`{{$.Nope}}`:                                    `Data has no field "Nope"`,
		`{{.State.Foo}}`:                                `cannot take field "Foo" of a string`,
		`{{.Message`:                                    `template.text: template: text:1: unclosed action`,
		`{{nofunc .State}}`:                             `function "nofunc" not defined`,
		`{{define "x"}}{{end}}`:                         `defining templates is not supported`,
	} {
		_, err := ParseTemplates(TemplateConfig{Text: tmpl})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", tmpl, err, want)
		}
	}
	c := destination("slack", "https://hooks.example.com")
	c.Template.Title = "{{.Check.Nmae}}"
	if err := c.Validate("destinations[3]"); err == nil || !strings.HasPrefix(err.Error(), `destinations[3].template.title: title:1:8: Check has no field "Nmae"`) {
		t.Fatalf("validate: %v", err)
	}
	// Fields reachable through labels and methods are fine.
	if _, err := ParseTemplates(TemplateConfig{Text: `{{$x := .Evidence}}{{if .Historical}}{{$x = .Check}}{{end}}{{$x.Location}}`}); err != nil {
		t.Fatalf("an assignment in a branch: %v", err)
	}
	if _, err := ParseTemplates(TemplateConfig{Text: `{{.Labels.anything}} {{.At.Unix}} {{.Rule.Window.Minutes}} {{index .Events 0 | printf "%v"}}`}); err != nil {
		t.Fatal(err)
	}
}

// A template failing at run time falls back to the default, so the alert
// still goes out, and says why.
func TestTemplateRuntimeFailureFallsBack(t *testing.T) {
	tm, err := ParseTemplates(TemplateConfig{Text: `{{index .Events 99}}`, Title: `{{range .Events}}{{range $.Events}}{{$.Message}}{{$.Message}}{{$.Message}}{{$.Message}}{{end}}{{end}}`})
	if err != nil {
		t.Fatal(err)
	}
	n := group()
	for i := 0; i < 40; i++ {
		n.Events = append(n.Events, down("c", i))
	}
	title, text, err := tm.Render(NewData(n, "ops", LinksConfig{}))
	if err == nil || !strings.Contains(err.Error(), "index out of range") || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("error %v", err)
	}
	if title != "43 alerts changed state" || !strings.HasPrefix(text, n.Events[0].GetMessage()+"\n") {
		t.Fatalf("fallback title %q text %.80q", title, text)
	}
}

// A range that would run without end or without bound is refused when the
// configuration is checked: text/template ranges over an integer, and a
// {{range 100000000000}} writes nothing, so the output bound never stops it
// and the destination would render forever. Ranges over the context's lists
// and maps, two deep, are kept.
func TestTemplateUnboundedRangeRefused(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{range 100000000000}}{{end}}`:                                              `text:1:8: range over a value that is not a list`,
		`{{range .Count}}x{{end}}`:                                                   `range over int`,
		`{{range $i := 99999999999}}{{end}}`:                                         `range over a value that is not a list`,
		`{{range .Check.Name}}{{end}}`:                                               `range over string`,
		`{{range len .Events}}{{end}}`:                                               `range over a value that is not a list`,
		`{{range .Events}}{{range $.Events}}{{range $.Events}}{{end}}{{end}}{{end}}`: `ranges nest at most 2 deep`,
	} {
		_, err := ParseTemplates(TemplateConfig{Text: tmpl})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "template.text: ") {
			t.Errorf("%s: error %v, want one containing %q", tmpl, err, want)
		}
	}
	for _, ok := range []string{
		`{{range .Events}}{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}{{end}}`,
		`{{range $k, $v := .Labels}}{{$k}}{{end}}{{range .Events}}{{.Message}}{{end}}`,
		`{{$e := .Events}}{{range $e}}{{.Message}}{{end}}`,
	} {
		if _, err := ParseTemplates(TemplateConfig{Text: ok}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// A burn_rate transition's value and threshold are burn rates: multiples of
// the error budget, written as the aggregator's message writes them.
func TestFormatValueBurnRate(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{{16.666666666666668, "burn_rate", "16.7×"}, {14.4, "burn_rate", "14.4×"}, {0.75, "ratio", "75.00%"}, {3, "days", "3 days"}} {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}
