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
	"strconv"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// Headers of a webhook request.
const (
	HeaderEventID   = "X-Picket-Event-Id"
	HeaderTimestamp = "X-Picket-Timestamp"
	// HeaderSignature is "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Picket-Signature"
)

// Webhook POSTs the generic JSON payload, signed when a secret is set.
type Webhook struct {
	name   string
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

var _ Sink = (*Webhook)(nil)

// NewWebhook returns a webhook sink.
func NewWebhook(name, url, secret string, timeout time.Duration) *Webhook {
	return &Webhook{name: name, url: url, secret: []byte(secret), client: &http.Client{Timeout: timeout}, now: time.Now}
}

// Name implements Sink.
func (w *Webhook) Name() string { return w.name }

// Send implements Sink. A 4xx answer other than 408 and 429 is permanent.
func (w *Webhook) Send(ctx context.Context, ev *eventsv1.AlertStateChanged) error {
	body, err := json.Marshal(NewPayload(ev))
	if err != nil {
		return &PermanentError{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{Err: err}
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "picket-notifier/1")
	req.Header.Set(HeaderEventID, ev.GetEventId())
	req.Header.Set(HeaderTimestamp, ts)
	if len(w.secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook %s: status %d: %s", w.name, resp.StatusCode, snippet)
	default:
		return &PermanentError{Err: fmt.Errorf("webhook %s: status %d: %s", w.name, resp.StatusCode, snippet)}
	}
}

// Sign is the signature of body sent at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
