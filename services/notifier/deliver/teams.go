package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Teams posts an Adaptive Card to a Microsoft Teams Workflows webhook (the
// "When a Teams webhook request is received" trigger). The Office 365
// connectors' MessageCard format is retired and not supported.
type Teams struct {
	p     *poster
	tmpl  Templates
	links LinksConfig
}

var _ Sink = (*Teams)(nil)

// Name implements Sink.
func (tm *Teams) Name() string { return tm.p.name }

// Kind implements Sink.
func (tm *Teams) Kind() string { return "teams" }

// String shows the destination without its URL's signature.
func (tm *Teams) String() string { return tm.p.String() }

// GoString is String.
func (tm *Teams) GoString() string { return tm.p.String() }

// Teams accepts about 28 KB per message; text is cut well below it, and a
// group shows at most teamsEventsMax fact sets.
const (
	teamsTextMax   = 12000
	teamsFactMax   = 1000
	teamsEventsMax = 20
)

// Adaptive Card text colours by state.
var teamsColors = map[string]string{"down": "Attention", "degraded": "Warning", "up": "Good", "stale": "Default"}

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []any          `json:"body"`
	Actions []teamsAction  `json:"actions,omitempty"`
	MSTeams map[string]any `json:"msteams"`
}

type teamsTextBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	Style    string `json:"style,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
}

type teamsFactSet struct {
	Type      string      `json:"type"`
	Facts     []teamsFact `json:"facts"`
	Separator bool        `json:"separator,omitempty"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Body is the JSON Teams gets for n.
func (tm *Teams) Body(n Notification) ([]byte, error) {
	if len(n.Events) == 0 {
		return nil, &Error{Outcome: Permanent, msg: fmt.Sprintf("teams %s: a notification without events", tm.p.name)}
	}
	d := NewData(n, tm.p.name, tm.links)
	title, text, _ := tm.tmpl.Render(d)
	card := teamsCard{
		Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4",
		MSTeams: map[string]any{"width": "Full"},
		Body: []any{
			teamsTextBlock{Type: "TextBlock", Text: truncate(oneLine(title), 400), Wrap: true, Weight: "Bolder", Size: "Medium",
				Color: teamsColors[d.State], Style: "heading"},
			teamsTextBlock{Type: "TextBlock", Text: truncate(text, teamsTextMax), Wrap: true},
		},
	}
	for i, e := range d.Events {
		if i == teamsEventsMax {
			card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Wrap: true, IsSubtle: true,
				Text: fmt.Sprintf("… and %d more", len(d.Events)-i)})
			break
		}
		f := func(t, v string) teamsFact { return teamsFact{Title: t, Value: truncate(v, teamsFactMax)} }
		fs := teamsFactSet{Type: "FactSet", Separator: i > 0, Facts: []teamsFact{
			f("Check", e.Check.Name+" ("+e.Check.ID+")"),
			f("State", e.PreviousState+" → "+e.State),
			f("Rule", e.Rule.Name),
			f("Evidence", e.Reason),
		}}
		if !e.At.IsZero() {
			fs.Facts = append(fs.Facts, f("At", e.At.Format(time.RFC3339)))
		}
		if e.Historical {
			fs.Facts = append(fs.Facts, f("Historical", "found late, not paged"))
		}
		card.Body = append(card.Body, fs)
	}
	if d.Links.Check != "" {
		card.Actions = []teamsAction{{Type: "Action.OpenUrl", Title: "Open check", URL: d.Links.Check}}
	}
	return json.Marshal(teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive", Content: card,
	}}})
}

// Send implements Sink. A Workflows webhook answers 202 Accepted.
func (tm *Teams) Send(ctx context.Context, n Notification) error {
	body, err := tm.Body(n)
	if err != nil {
		return err
	}
	_, err = tm.p.post(ctx, http.Header{}, body)
	return err
}
