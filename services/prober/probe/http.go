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
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// maxBody bounds how much of a response body is read.
const maxBody = 1 << 20

// transport opens a fresh connection for every run: a reused connection would
// hide DNS, connect and TLS time, and the failures that live there.
var transport = &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	DisableKeepAlives:   true,
	TLSHandshakeTimeout: 0, // the run's context bounds it
	ForceAttemptHTTP2:   true,
}

// HTTP runs an HTTP check: success means one of the expected statuses.
func HTTP(ctx context.Context, c check.Check) Result {
	h := c.HTTP
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	res := Result{Start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, body)
	if err != nil {
		res.Class, res.Message = eventsv1.FailureClass_FAILURE_CLASS_INTERNAL, err.Error()
		return res
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "picket-prober/1")
	}
	var firstByte time.Time
	trace := &httptrace.ClientTrace{
		GotFirstResponseByte: func() { firstByte = time.Now() },
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	client := http.Client{Transport: transport}
	resp, err := client.Do(req)
	if err != nil {
		res.Duration = time.Since(res.Start)
		res.TTFB = since(res.Start, firstByte)
		res.Class, res.Message = classify(ctx, err), err.Error()
		return res
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	res.Duration = time.Since(res.Start)
	res.TTFB = since(res.Start, firstByte)
	res.HTTPStatus = resp.StatusCode
	if err != nil {
		res.Class, res.Message = classify(ctx, err), fmt.Sprintf("reading body: %v", err)
		return res
	}
	if !slices.Contains(h.ExpectedStatus, resp.StatusCode) {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_STATUS
		res.Message = fmt.Sprintf("status %d, expected %s", resp.StatusCode, statusList(h.ExpectedStatus))
		return res
	}
	res.Success = true
	return res
}

func since(start, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(start)
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
