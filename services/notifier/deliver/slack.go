package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Slack Block Kit limits (docs.slack.dev, reference/block-kit): longer text
// is refused by Slack, so it is cut here, on a character boundary and never
// inside an escape.
const (
	slackHeaderMax   = 150
	slackSectionMax  = 3000
	slackFieldMax    = 2000
	slackFieldsMax   = 10
	slackBlocksMax   = 50
	slackButtonText  = 75
	slackURLMax      = 3000
	slackFallbackMax = 3000
	slackContextMax  = 10
)

// Slack posts a Block Kit message to an incoming webhook.
type Slack struct {
	p     *poster
	tmpl  Templates
	links LinksConfig
}

var _ Sink = (*Slack)(nil)

// Name implements Sink.
func (s *Slack) Name() string { return s.p.name }

// Kind implements Sink.
func (s *Slack) Kind() string { return "slack" }

// String shows the destination without its URL's token.
func (s *Slack) String() string { return s.p.String() }

// GoString is String.
func (s *Slack) GoString() string { return s.p.String() }

// Send implements Sink. Slack answers 200 "ok"; 404 no_service and 410
// channel_is_archived mean the webhook is gone or disabled.
func (s *Slack) Send(ctx context.Context, n Notification) error {
	body, err := s.Body(n)
	if err != nil {
		return err
	}
	_, err = s.p.post(ctx, http.Header{}, body)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound && strings.Contains(e.msg, "no_service") {
		// The webhook was removed or its app uninstalled: as final as a 410.
		e.Outcome = Gone
	}
	return err
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji *bool  `json:"emoji,omitempty"`
}

type slackBlock struct {
	Type     string       `json:"type"`
	Text     *slackText   `json:"text,omitempty"`
	Fields   []slackText  `json:"fields,omitempty"`
	Elements []any        `json:"elements,omitempty"`
	Accessor *slackButton `json:"accessory,omitempty"`
}

type slackButton struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// Body is the JSON Slack gets for n.
func (s *Slack) Body(n Notification) ([]byte, error) {
	if len(n.Events) == 0 {
		return nil, &Error{Outcome: Permanent, msg: fmt.Sprintf("slack %s: a notification without events", s.p.name)}
	}
	d := NewData(n, s.p.name, s.links)
	title, text, _ := s.tmpl.Render(d)
	yes := true
	m := slackMessage{Text: slackTruncate(slackEscape(text), slackFallbackMax)}
	m.Blocks = append(m.Blocks,
		slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(oneLine(title), slackHeaderMax), Emoji: &yes}},
		slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackTruncate(slackEscape(text), slackSectionMax)}},
	)
	// One section of facts per event, within Slack's block limit: the
	// header, the text and a closing context take three.
	room := slackBlocksMax - 3
	for i, e := range d.Events {
		if i == room-1 && len(d.Events) > room {
			m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: []any{
				slackText{Type: "mrkdwn", Text: fmt.Sprintf("… and %d more", len(d.Events)-i)}}})
			break
		}
		m.Blocks = append(m.Blocks, slackEventBlock(e))
	}
	ctxElems := []any{slackText{Type: "mrkdwn", Text: slackTruncate(slackEscape(fmt.Sprintf("%s · event %s", d.At.Format(time.RFC3339), d.ID)), slackFieldMax)}}
	if d.Historical {
		ctxElems = append(ctxElems, slackText{Type: "mrkdwn", Text: "historical: found late, not paged"})
	}
	m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: ctxElems[:min(len(ctxElems), slackContextMax)]})
	return json.Marshal(m)
}

func slackEventBlock(e Event) slackBlock {
	field := func(name, value string) slackText {
		return slackText{Type: "mrkdwn", Text: slackTruncate("*"+name+"*\n"+slackEscape(value), slackFieldMax)}
	}
	b := slackBlock{Type: "section", Fields: []slackText{
		field("Check", e.Check.Name+" ("+e.Check.ID+")"),
		field("State", e.PreviousState+" → "+e.State),
		field("Rule", e.Rule.Name),
		field("Evidence", e.Reason),
	}}
	if e.Evidence.LastResultID != "" {
		b.Fields = append(b.Fields, field("Results", e.Evidence.FirstResultID+" … "+e.Evidence.LastResultID))
	}
	if e.Evidence.Location != "" {
		b.Fields = append(b.Fields, field("Location", e.Evidence.Location))
	}
	b.Fields = b.Fields[:min(len(b.Fields), slackFieldsMax)]
	if e.Links.Check != "" && len(e.Links.Check) <= slackURLMax {
		b.Accessor = &slackButton{Type: "button", Text: slackText{Type: "plain_text", Text: truncate("Open check", slackButtonText)}, URL: e.Links.Check}
	}
	return b
}

// slackEscape escapes the three characters Slack's mrkdwn reserves, so
// event text cannot form links or mentions (<!channel>).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackTruncate cuts escaped text to n characters without splitting an
// "&amp;"-style escape.
func slackTruncate(s string, n int) string {
	t := truncate(s, n)
	if t == s {
		return s
	}
	body := strings.TrimSuffix(t, "…")
	if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
		body = body[:amp]
	}
	return body + "…"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "Picket alert"
	}
	return s
}
