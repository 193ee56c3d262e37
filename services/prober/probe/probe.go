// Package probe runs one check once and measures it. One file per check type,
// all behind the same Func signature, dispatched by Probers.
//
// A probe never retries and never schedules: it reports what one attempt saw,
// classifying every failure.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/assert"
	"github.com/picket-dev/picket/services/prober/check"
)

// Result is what one run measured.
type Result struct {
	Start    time.Time
	Duration time.Duration
	// TTFB is the time from Start to the first response byte; 0 if none came.
	TTFB       time.Duration
	HTTPStatus int
	// Phases splits Duration; summed across redirects.
	Phases Phases
	// Cert is set when the run did a TLS handshake.
	Cert    *Cert
	Success bool
	Class   eventsv1.FailureClass
	Message string
	// Assertions are the outcomes of the check's assertions, in order; empty
	// when the run got no answer to judge.
	Assertions []assert.Outcome
	// Steps are a journey's steps that ran.
	Steps []Step

	// answered is set by a probe that got an answer assertions can judge;
	// seen is what HTTP assertions look at.
	answered bool
	seen     assert.Observed
}

// Phases are the parts of a run; a phase that did not happen is zero.
type Phases struct {
	DNS, Connect, TLS time.Duration
	// Processing runs from the request written to the first response byte.
	Processing time.Duration
	// Transfer runs from the first response byte to the last body byte read.
	Transfer time.Duration
}

// Cert is what a handshake showed of the server's chain.
type Cert struct {
	NotAfter        time.Time // the chain's earliest expiry
	Subject, Issuer string
	Verified        bool
}

// certOf summarises a handshake's chain: the verified chain when there is
// one, the presented certificates otherwise.
func certOf(st *tls.ConnectionState) *Cert {
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil
	}
	chain := st.PeerCertificates
	verified := len(st.VerifiedChains) > 0
	if verified {
		chain = st.VerifiedChains[0]
	}
	c := &Cert{Subject: chain[0].Subject.String(), Issuer: chain[0].Issuer.String(), Verified: verified}
	for _, x := range chain {
		if c.NotAfter.IsZero() || x.NotAfter.Before(c.NotAfter) {
			c.NotAfter = x.NotAfter
		}
	}
	return c
}

// Func runs check c once. ctx carries the run's deadline (the check timeout).
type Func func(ctx context.Context, c check.Check) Result

// Probers maps check types to their probe.
var Probers = map[string]Func{
	"http":    HTTP,
	"tcp":     TCP,
	"dns":     DNS,
	"tls":     TLS,
	"journey": Journey,
}

// Run runs c with its timeout. A check whose compile step failed on this
// prober (a secret or ca_file missing here) fails every run as internal,
// saying why: it is visible where its results are, never skipped quietly.
func Run(ctx context.Context, c check.Check) Result {
	if err := c.Runnable(); err != nil {
		return Result{Start: time.Now(), Class: eventsv1.FailureClass_FAILURE_CLASS_INTERNAL,
			Message: "check cannot run on this prober: " + err.Error()}
	}
	f, ok := Probers[c.Type()]
	if !ok {
		return Result{Start: time.Now(), Class: eventsv1.FailureClass_FAILURE_CLASS_INTERNAL, Message: "unknown check type " + c.Type()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	res := f(ctx, c)
	judge(c.Assertions, &res)
	return res
}

// Confirm runs c and, while it fails, up to c.Retries more times with
// c.RetryDelay between attempts, returning the last result and the number of
// attempts. A failure is reported only once confirmed. ctx bounds every
// attempt; once retries is done (the prober shuts down) no further attempt
// starts, and attempts then tells the caller the failure is unconfirmed.
func Confirm(ctx, retries context.Context, c check.Check) (Result, int) {
	res := Run(ctx, c)
	attempts := 1
	for ; !res.Success && attempts <= c.Retries; attempts++ {
		t := time.NewTimer(c.RetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, attempts
		case <-retries.Done():
			t.Stop()
			return res, attempts
		case <-t.C:
		}
		res = Run(ctx, c)
	}
	return res, attempts
}

// judge evaluates the check's assertions on an answered run. The first
// failure fails a run that had otherwise succeeded.
func judge(assertions []assert.Assertion, res *Result) {
	if len(assertions) == 0 || !res.answered {
		return
	}
	o := res.seen
	o.Now = res.Start
	o.Timings = map[string]time.Duration{
		"total": res.Duration, "ttfb": res.TTFB, "dns": res.Phases.DNS, "connect": res.Phases.Connect,
		"tls": res.Phases.TLS, "processing": res.Phases.Processing, "transfer": res.Phases.Transfer,
	}
	if res.Cert != nil {
		o.CertNotAfter = res.Cert.NotAfter
	}
	for i := range assertions {
		a := &assertions[i]
		out := a.Check(o)
		res.Assertions = append(res.Assertions, out)
		if !out.Passed && res.Success {
			res.Success = false
			res.Class, res.Message = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION, out.Message
			if a.IsStatus() {
				res.Class = eventsv1.FailureClass_FAILURE_CLASS_STATUS
			}
		}
	}
}

// classify names the failure class of a transport error.
func classify(ctx context.Context, err error) eventsv1.FailureClass {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return eventsv1.FailureClass_FAILURE_CLASS_TIMEOUT
	case errors.As(err, &dnsErr):
		return eventsv1.FailureClass_FAILURE_CLASS_DNS
	case errors.As(err, &netErr) && netErr.Timeout():
		return eventsv1.FailureClass_FAILURE_CLASS_TIMEOUT
	case isTLS(err):
		return eventsv1.FailureClass_FAILURE_CLASS_TLS
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return eventsv1.FailureClass_FAILURE_CLASS_CONNECT
	}
	return eventsv1.FailureClass_FAILURE_CLASS_PROTOCOL
}
