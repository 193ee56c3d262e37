package deliver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Headers of a webhook request.
const (
	HeaderEventID   = "X-Picket-Event-Id"
	HeaderTimestamp = "X-Picket-Timestamp"
	// HeaderSignature is "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Picket-Signature"
	// HeaderWebhookID is the notification's idempotency key.
	HeaderWebhookID = "webhook-id"
)

// Webhook POSTs the generic JSON payload, signed when a secret is set.
type Webhook struct {
	name   string
	url    string
	host   string
	secret []byte
	client *http.Client
	now    func() time.Time
}

var _ Sink = (*Webhook)(nil)

// NewWebhook returns a webhook sink.
func NewWebhook(name, rawURL, secret string, timeout time.Duration) *Webhook {
	host := "[unparsable URL]"
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	return &Webhook{name: name, url: rawURL, host: host, secret: []byte(secret),
		client: &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:    time.Now}
}

// Name implements Sink.
func (w *Webhook) Name() string { return w.name }

// Kind implements Sink.
func (w *Webhook) Kind() string { return "webhook" }

// Send implements Sink: one POST per event of n (a group is sent event by
// event), each carrying n's key.
func (w *Webhook) Send(ctx context.Context, n Notification) error {
	for _, ev := range n.Events {
		body, err := json.Marshal(NewPayload(ev))
		if err != nil {
			return &Error{Outcome: Permanent, msg: fmt.Sprintf("webhook %s: %v", w.name, err), err: err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
		if err != nil {
			return &Error{Outcome: Permanent, msg: fmt.Sprintf("webhook %s: bad request to %s", w.name, w.host)}
		}
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "picket-notifier/1")
		req.Header.Set(HeaderEventID, ev.GetEventId())
		req.Header.Set(HeaderWebhookID, n.Key())
		req.Header.Set(HeaderTimestamp, ts)
		if len(w.secret) > 0 {
			req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
		}
		resp, err := w.client.Do(req)
		if err != nil {
			return &Error{Outcome: Retry, msg: fmt.Sprintf("webhook %s: POST %s failed", w.name, w.host), err: ctx.Err()}
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		var ra time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ra = time.Duration(s) * time.Second
		}
		msg := fmt.Sprintf("webhook %s: %s answered %d", w.name, w.host, resp.StatusCode)
		switch c := resp.StatusCode; {
		case c >= 200 && c < 300:
		case c == http.StatusGone:
			return &Error{Outcome: Gone, Status: c, msg: msg}
		case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
			return &Error{Outcome: Retry, Status: c, RetryAfter: ra, msg: msg}
		default:
			return &Error{Outcome: Permanent, Status: c, msg: msg}
		}
	}
	return nil
}

// Sign is the signature of body sent at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
