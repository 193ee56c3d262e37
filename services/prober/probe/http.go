package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/assert"
	"github.com/picket-dev/picket/services/prober/check"
)

// HTTP runs an HTTP check: success means one of the expected statuses (or,
// with a status assertion, what the assertions say). Each check has its own
// transport; by default it opens a fresh connection for every run, since a
// reused one would hide DNS, connect and TLS time and the failures there.
func HTTP(ctx context.Context, c check.Check) Result {
	h := c.HTTP
	return exchange(ctx, h, h.RequestURL(), h.Headers, h.RequestBody(), needsBody(c.Assertions), nil)
}

// exchange sends one request described by h (with url, headers and body
// already expanded) and measures it. expand, when set, is applied to header
// values.
func exchange(ctx context.Context, h *check.HTTP, url string, headers map[string]string, reqBody string, readBody bool, expand func(string) string) Result {
	var body io.Reader
	if reqBody != "" {
		body = strings.NewReader(reqBody)
	}
	res := Result{Start: time.Now()}
	// The trace goes into the request's context from the start: adding it
	// afterwards (req.WithContext) copies the request on every run.
	var pt phaseTimer
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, pt.trace()), h.Method, url, body)
	if err != nil {
		res.Class, res.Message = eventsv1.FailureClass_FAILURE_CLASS_INTERNAL, err.Error()
		return res
	}
	for k, v := range headers {
		if expand != nil {
			v = expand(v)
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "picket-prober/1")
	}
	h.Authorize(req)
	limit := h.RedirectLimit()
	client := http.Client{Transport: h.Transport(), CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) > limit {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		res.Duration = time.Since(res.Start)
		res.TTFB, res.Phases = pt.result(res.Start, time.Now())
		res.Class, res.Message = classify(ctx, err), err.Error()
		return res
	}
	// Read one byte past the limit to tell a body at the limit from a longer one.
	var got []byte
	lr := io.LimitReader(resp.Body, h.BodyLimit()+1)
	var n int64
	if readBody {
		got, err = io.ReadAll(lr)
		n = int64(len(got))
	} else {
		n, err = io.Copy(io.Discard, lr)
	}
	resp.Body.Close()
	end := time.Now()
	res.Duration = end.Sub(res.Start)
	res.TTFB, res.Phases = pt.result(res.Start, end)
	res.HTTPStatus = resp.StatusCode
	res.Cert = certOf(resp.TLS)
	if err != nil {
		res.Class, res.Message = classify(ctx, err), fmt.Sprintf("reading body: %v", err)
		return res
	}
	if n > h.BodyLimit() {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_PROTOCOL
		res.Message = fmt.Sprintf("body longer than max_body_bytes %d", h.BodyLimit())
		return res
	}
	res.answered = true
	res.seen = assert.Observed{Status: resp.StatusCode, Header: resp.Header, Body: got}
	if h.HTTPVersion == "2" && resp.ProtoMajor != 2 {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_PROTOCOL
		res.Message = fmt.Sprintf("protocol %s, expected HTTP/2", resp.Proto)
		return res
	}
	if len(h.ExpectedStatus) > 0 && !slices.Contains(h.ExpectedStatus, resp.StatusCode) {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_STATUS
		res.Message = fmt.Sprintf("status %d, expected %s", resp.StatusCode, statusList(h.ExpectedStatus))
		return res
	}
	res.Success = true
	return res
}

// phaseTimer collects httptrace events. Hooks may run on other goroutines
// (the dialer races IPv4 and IPv6), hence the lock. Each redirect hop adds to
// the sums.
type phaseTimer struct {
	mu                            sync.Mutex
	dnsStart, connStart, tlsStart time.Time
	wrote, firstByte              time.Time
	sum                           Phases
}

func (p *phaseTimer) trace() *httptrace.ClientTrace {
	at := func(f func(now time.Time)) {
		now := time.Now()
		p.mu.Lock()
		f(now)
		p.mu.Unlock()
	}
	return &httptrace.ClientTrace{
		GetConn:  func(string) { at(func(time.Time) { p.connStart, p.tlsStart = time.Time{}, time.Time{} }) },
		DNSStart: func(httptrace.DNSStartInfo) { at(func(now time.Time) { p.dnsStart = now }) },
		DNSDone: func(httptrace.DNSDoneInfo) {
			at(func(now time.Time) { p.sum.DNS += now.Sub(p.dnsStart) })
		},
		ConnectStart: func(string, string) {
			at(func(now time.Time) {
				if p.connStart.IsZero() { // the first of racing dials
					p.connStart = now
				}
			})
		},
		ConnectDone: func(_, _ string, err error) {
			at(func(now time.Time) {
				if err == nil && !p.connStart.IsZero() {
					p.sum.Connect += now.Sub(p.connStart)
				}
			})
		},
		TLSHandshakeStart: func() { at(func(now time.Time) { p.tlsStart = now }) },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			at(func(now time.Time) { p.sum.TLS += now.Sub(p.tlsStart) })
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { at(func(now time.Time) { p.wrote = now }) },
		GotFirstResponseByte: func() {
			at(func(now time.Time) {
				p.firstByte = now
				if !p.wrote.IsZero() {
					p.sum.Processing += now.Sub(p.wrote)
				}
			})
		},
	}
}

// result returns the time to the final first byte (from start) and the
// phases, the final transfer ending at end.
func (p *phaseTimer) result(start, end time.Time) (ttfb time.Duration, ph Phases) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ph = p.sum
	if !p.firstByte.IsZero() {
		ttfb = p.firstByte.Sub(start)
		ph.Transfer = end.Sub(p.firstByte)
	}
	return ttfb, ph
}

func statusList(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, " or ")
}

func isTLS(err error) bool {
	var recErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &recErr) || errors.As(err, &certErr) || errors.As(err, &unknownAuth) ||
		errors.As(err, &hostErr) || errors.As(err, &invalid)
}

// needsBody reports whether an assertion reads the body.
func needsBody(as []assert.Assertion) bool {
	for _, a := range as {
		if a.Body != nil || a.JSON != nil {
			return true
		}
	}
	return false
}
