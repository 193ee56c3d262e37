package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// Discord embed limits (discord.com/developers/docs/resources/message#embed-object-embed-limits).
const (
	discordTitleMax       = 256
	discordDescriptionMax = 4096
	discordFieldNameMax   = 256
	discordFieldValueMax  = 1024
	// discordFactMax keeps an event's facts to about half the message total,
	// so the first embed always fits with room for the text.
	discordFactMax   = 400
	discordFieldsMax = 25
	discordFooterMax = 2048
	discordEmbedsMax = 10
	discordTotalMax  = 6000 // all embeds of a message together
)

// Colours of an embed's left bar, by state.
var stateColors = map[string]int{"down": 0xD93F0B, "degraded": 0xFBCA04, "up": 0x0E8A16, "stale": 0x8B949E}

// Discord posts an embed to a channel webhook.
type Discord struct {
	p     *poster
	tmpl  Templates
	links LinksConfig
}

var _ Sink = (*Discord)(nil)

// Name implements Sink.
func (dc *Discord) Name() string { return dc.p.name }

// Kind implements Sink.
func (dc *Discord) Kind() string { return "discord" }

// String shows the destination without its URL's token.
func (dc *Discord) String() string { return dc.p.String() }

// GoString is String.
func (dc *Discord) GoString() string { return dc.p.String() }

type discordMessage struct {
	Username        string          `json:"username"`
	Embeds          []discordEmbed  `json:"embeds"`
	AllowedMentions discordMentions `json:"allowed_mentions"`
}

// discordMentions with an empty parse list: text from events can never ping
// @everyone or a role.
type discordMentions struct {
	Parse []string `json:"parse"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	URL         string         `json:"url,omitempty"`
	Color       int            `json:"color"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Fields      []discordField `json:"fields,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

func (e discordEmbed) size() int {
	n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
	for _, f := range e.Fields {
		n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
	}
	if e.Footer != nil {
		n += utf8.RuneCountInString(e.Footer.Text)
	}
	return n
}

// Body is the JSON Discord gets for n: the rendered title and text in the
// first embed with the first event's facts; in a group, one more embed per
// further event up to Discord's ten, all within its 6000-character total.
func (dc *Discord) Body(n Notification) ([]byte, error) {
	if len(n.Events) == 0 {
		return nil, &Error{Outcome: Permanent, msg: fmt.Sprintf("discord %s: a notification without events", dc.p.name)}
	}
	d := NewData(n, dc.p.name, dc.links)
	title, text, _ := dc.tmpl.Render(d)
	first := discordEventEmbed(d.Event)
	first.Title = truncate(oneLine(title), discordTitleMax)
	m := discordMessage{Username: "Picket", AllowedMentions: discordMentions{Parse: []string{}}}
	m.Embeds = append(m.Embeds, first)
	for _, e := range d.Events[1:] {
		if len(m.Embeds) == discordEmbedsMax {
			break
		}
		m.Embeds = append(m.Embeds, discordEventEmbed(e))
	}
	total := 0
	for _, e := range m.Embeds {
		total += e.size()
	}
	for total > discordTotalMax-discordDescriptionMax && len(m.Embeds) > 1 {
		total -= m.Embeds[len(m.Embeds)-1].size()
		m.Embeds = m.Embeds[:len(m.Embeds)-1]
	}
	// The text gets what the facts leave of the total.
	m.Embeds[0].Description = truncate(text, min(discordDescriptionMax, discordTotalMax-total))
	return json.Marshal(m)
}

func discordEventEmbed(e Event) discordEmbed {
	f := func(name, value string, inline bool) discordField {
		if value == "" {
			value = "-"
		}
		return discordField{Name: truncate(name, discordFieldNameMax), Value: truncate(value, min(discordFactMax, discordFieldValueMax)), Inline: inline}
	}
	em := discordEmbed{
		Title: truncate(oneLine(e.Check.Name+" is "+e.State), discordTitleMax),
		URL:   e.Links.Check,
		Color: stateColors[e.State],
		Fields: []discordField{
			f("Check", e.Check.Name+" ("+e.Check.ID+")", true),
			f("State", e.PreviousState+" → "+e.State, true),
			f("Rule", e.Rule.Name, true),
			f("Evidence", e.Reason, false),
		},
		Footer: &discordFooter{Text: truncate("event "+e.ID, min(200, discordFooterMax))},
	}
	if !e.At.IsZero() {
		em.Timestamp = e.At.Format(time.RFC3339)
	}
	if e.Evidence.LastResultID != "" {
		em.Fields = append(em.Fields, f("Results", e.Evidence.FirstResultID+" … "+e.Evidence.LastResultID, false))
	}
	if e.Historical {
		em.Fields = append(em.Fields, f("Historical", "found late, not paged", false))
	}
	em.Fields = em.Fields[:min(len(em.Fields), discordFieldsMax)]
	return em
}

// Send implements Sink. Discord answers 204; 404 means the webhook was
// deleted, which is as final as a 410.
func (dc *Discord) Send(ctx context.Context, n Notification) error {
	body, err := dc.Body(n)
	if err != nil {
		return err
	}
	_, err = dc.p.post(ctx, http.Header{}, body)
	if e, ok := err.(*Error); ok && e.Status == http.StatusNotFound {
		e.Outcome = Gone
	}
	return err
}
