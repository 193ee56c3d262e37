package deliver

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

func fuzzEvent(id, check, name, msg, summary, loc string, state int32, value float64, secs int64) *eventsv1.AlertStateChanged {
	ev := &eventsv1.AlertStateChanged{
		EventId: id, CheckId: check, CheckName: name, Rule: check + "-rule", Message: msg, Summary: summary,
		State: eventsv1.AlertState(state), PreviousState: eventsv1.AlertState(-state),
		Value: value, Threshold: -value, Availability: value, Unit: loc, Kind: name,
		Location: loc, FailingLocations: strings.Split(loc, ","), Locations: uint32(len(loc)),
		Window: durationpb.New(time.Duration(secs)), Samples: uint32(secs), Successes: uint32(secs / 2),
		Historical: secs%2 == 0,
	}
	if secs%3 != 0 {
		ev.At = &timestamppb.Timestamp{Seconds: secs, Nanos: int32(secs % 1e9)}
		ev.DetectedAt, ev.DownSince = ev.At, &timestamppb.Timestamp{Seconds: -secs}
	}
	return ev
}

// Rendering any template that parses, on any event, never panics.
func FuzzRender(f *testing.F) {
	f.Add(DefaultTextTemplate, "e1", "api", "API", "API is down.", "API down", "eu", int32(2), 0.5, int64(120))
	f.Add(`{{.Reason}} {{range .Events}}{{.Check.Name}}{{end}} {{truncate 3 .Message}} {{value .Evidence.Value .Evidence.Unit}}`,
		"", "", "", "", "", "", int32(9), -1.0, int64(-7))
	f.Add(`{{join "," .Evidence.FailingLocations}} {{rfc3339 .DownSince}} {{index .Labels "x"}} {{.At.Format "2006"}}`,
		"id", "c", "n", "m", "s", "a,b", int32(4), 1e300, int64(1<<40))
	f.Add(`{{truncate -5 .Message}}{{printf "%v" .Events}}{{slice .Message 1}}`, "x", "c", "é", "ü", "", "", int32(1), 0.0, int64(3))
	f.Fuzz(func(t *testing.T, tmpl, id, check, name, msg, summary, loc string, state int32, value float64, secs int64) {
		tm, err := ParseTemplates(TemplateConfig{Title: tmpl, Text: tmpl})
		if err != nil {
			return
		}
		n := Notification{Events: []*eventsv1.AlertStateChanged{
			fuzzEvent(id, check, name, msg, summary, loc, state, value, secs),
			fuzzEvent(check, id, msg, name, loc, summary, -state, -value, -secs),
		}, Group: map[string]string{loc: name}, Labels: map[string]map[string]string{check: {"x": msg}}}
		for _, one := range []Notification{{Events: n.Events[:1]}, n} {
			title, text, _ := tm.Render(NewData(one, "ops", LinksConfig{BaseURL: "https://p.example"}))
			if len(title) > maxRendered || len(text) > maxRendered {
				t.Fatalf("rendered %d/%d bytes", len(title), len(text))
			}
		}
	})
}

// Every kind renders any event into valid JSON within its service's limits.
func FuzzBodies(f *testing.F) {
	f.Add("e1", "api", "API", "API is down.", "API down", "eu", int32(2), 0.5, int64(120))
	f.Add("", "", "", "", "", "", int32(0), 0.0, int64(0))
	f.Add("x", strings.Repeat("c", 300), strings.Repeat("🚨", 300), strings.Repeat("<&>é", 3000), strings.Repeat("&", 200), "a,b,c", int32(3), 1e308, int64(-1))
	f.Add("\xff\xfe", "\x00", "<!channel>", "@everyone", "\u202e", "\n\n", int32(4), math.Copysign(0, -1), int64(1<<62))
	f.Fuzz(func(t *testing.T, id, check, name, msg, summary, loc string, state int32, value float64, secs int64) {
		p := &poster{name: "fuzz"}
		links := LinksConfig{BaseURL: "https://p.example"}
		n := Notification{Events: []*eventsv1.AlertStateChanged{fuzzEvent(id, check, name, msg, summary, loc, state, value, secs)}}
		if secs%2 == 0 {
			for i := 0; i < 12; i++ {
				n.Events = append(n.Events, fuzzEvent(id+msg, check, name, msg, summary, loc, state+int32(i), value, secs+int64(i)))
			}
		}
		valid := func(kind string, b []byte, err error) {
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if !json.Valid(b) || !utf8.Valid(b) {
				t.Fatalf("%s: invalid JSON %q", kind, b)
			}
		}
		b, err := (&Webhook{p: p, tmpl: defaultTemplates, links: links}).Body(n)
		valid("webhook", b, err)

		b, err = (&Slack{p: p, tmpl: defaultTemplates, links: links}).Body(n)
		valid("slack", b, err)
		var sm slackMessage
		json.Unmarshal(b, &sm)
		if len(sm.Blocks) > slackBlocksMax || utf8.RuneCountInString(sm.Blocks[0].Text.Text) > slackHeaderMax ||
			sm.Blocks[0].Text.Text == "" || utf8.RuneCountInString(sm.Blocks[1].Text.Text) > slackSectionMax {
			t.Fatalf("slack limits: %d blocks, header %q", len(sm.Blocks), sm.Blocks[0].Text.Text)
		}

		b, err = (&Discord{p: p, tmpl: defaultTemplates, links: links}).Body(n)
		valid("discord", b, err)
		var dm discordMessage
		json.Unmarshal(b, &dm)
		total := 0
		for _, e := range dm.Embeds {
			total += e.size()
			if utf8.RuneCountInString(e.Title) > discordTitleMax || utf8.RuneCountInString(e.Description) > discordDescriptionMax {
				t.Fatalf("discord embed limits")
			}
		}
		if total > discordTotalMax || len(dm.Embeds) > discordEmbedsMax {
			t.Fatalf("discord: %d characters in %d embeds", total, len(dm.Embeds))
		}

		b, err = (&Teams{p: p, tmpl: defaultTemplates, links: links}).Body(n)
		valid("teams", b, err)

		bodies, err := (&PagerDuty{p: p, routingKey: "k", tmpl: defaultTemplates, links: links}).Bodies(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bodies {
			valid("pagerduty", b, nil)
			var e pdEvent
			json.Unmarshal(b, &e)
			if len(e.DedupKey) > pdDedupKeyMax || e.Payload != nil && (utf8.RuneCountInString(e.Payload.Summary) > pdSummaryMax || e.Payload.Summary == "") {
				t.Fatalf("pagerduty limits: key %d bytes", len(e.DedupKey))
			}
		}
	})
}

// Any Retry-After header gives a delay between 0 and the cap.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", " 5 "} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q: %s", v, d)
		}
	})
}
