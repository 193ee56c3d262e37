package deliver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks 1.0.0 headers (https://www.standardwebhooks.com/).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
	// SecretPrefix starts a signing secret: "whsec_" + base64 of the key.
	SecretPrefix = "whsec_"
	// minKeyBytes: the specification asks for 24 to 64 random bytes; fewer
	// than 16 is refused as a mistake rather than a key.
	minKeyBytes = 16
)

// The headers the legacy `webhooks[]` entries still send besides the
// standard ones, so existing receivers keep verifying during the migration.
const (
	HeaderEventID   = "X-Picket-Event-Id"
	HeaderTimestamp = "X-Picket-Timestamp"
	// HeaderSignature is "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Picket-Signature"
)

// Webhook POSTs the generic JSON payload, signed as Standard Webhooks
// specifies when signing keys are set.
type Webhook struct {
	p      *poster
	keys   [][]byte
	legacy []byte // legacy X-Picket-Signature key; nil unless a `webhooks[]` entry
	tmpl   Templates
	links  LinksConfig
	now    func() time.Time
}

var _ Sink = (*Webhook)(nil)

// Name implements Sink.
func (w *Webhook) Name() string { return w.p.name }

// Kind implements Sink.
func (w *Webhook) Kind() string { return "webhook" }

// String shows the destination without its secrets.
func (w *Webhook) String() string { return w.p.String() }

// GoString is String: %#v must not print the URL either.
func (w *Webhook) GoString() string { return w.p.String() }

// ParseSecrets reads signing secrets: one or more whitespace-separated
// "whsec_<base64>" values (several while a key is being rotated: each
// request then carries one signature per key). The error never contains the
// value.
func ParseSecrets(s string) ([][]byte, error) {
	var keys [][]byte
	for i, f := range strings.Fields(s) {
		if !strings.HasPrefix(f, SecretPrefix) {
			return nil, fmt.Errorf("secret %d does not start with %q", i+1, SecretPrefix)
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(f, SecretPrefix))
		if err != nil {
			return nil, fmt.Errorf("secret %d is not valid base64 after %q", i+1, SecretPrefix)
		}
		if len(k) < minKeyBytes {
			return nil, fmt.Errorf("secret %d is %d bytes; use at least %d (24 to 64 random bytes, base64)", i+1, len(k), minKeyBytes)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// SignatureHeader is the webhook-signature value for a message: one
// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" per key, space-separated.
func SignatureHeader(id string, timestamp int64, body []byte, keys ...[]byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(timestamp, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// Sign is the legacy X-Picket-Signature of body sent at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Body is the JSON the webhook sends for n (exported for `picket notify test`
// and the golden tests).
func (w *Webhook) Body(n Notification) ([]byte, error) {
	if len(n.Events) == 0 {
		return nil, &Error{Outcome: Permanent, msg: fmt.Sprintf("webhook %s: a notification without events", w.p.name)}
	}
	d := NewData(n, w.p.name, w.links)
	title, text, _ := w.tmpl.Render(d)
	p := NewPayload(n.Events[0])
	p.CheckURL, p.Title, p.Text, p.Repeat = d.Links.Check, title, text, n.Repeat
	if len(n.Events) > 1 {
		p.Group = n.Group
		for i, ev := range n.Events {
			e := NewPayload(ev)
			e.CheckURL = d.Events[i].Links.Check
			p.Events = append(p.Events, e)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, &Error{Outcome: Permanent, msg: fmt.Sprintf("webhook %s: encoding the payload: %v", w.p.name, err)}
	}
	return b, nil
}

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, n Notification) error {
	body, err := w.Body(n)
	if err != nil {
		return err
	}
	id, now := n.Key(), w.now().Unix()
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set(HeaderWebhookID, id)
	hdr.Set(HeaderWebhookTimestamp, strconv.FormatInt(now, 10))
	if len(w.keys) > 0 {
		hdr.Set(HeaderWebhookSignature, SignatureHeader(id, now, body, w.keys...))
	}
	if w.legacy != nil {
		hdr.Set(HeaderEventID, id)
		hdr.Set(HeaderTimestamp, strconv.FormatInt(now, 10))
		if len(w.legacy) > 0 {
			hdr.Set(HeaderSignature, Sign(w.legacy, strconv.FormatInt(now, 10), body))
		}
	}
	_, err = w.p.post(ctx, hdr, body)
	return err
}
