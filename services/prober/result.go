package prober

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/assert"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/outbox"
	"github.com/picket-dev/picket/services/prober/probe"
)

// Result builds the event for one run.
func Result(c check.Check, location string, tick time.Time, r probe.Result, attempts int) *eventsv1.CheckResult {
	ev := &eventsv1.CheckResult{
		ResultId:        events.ResultID(c.ID, location, tick),
		CheckId:         c.ID,
		CheckName:       c.Name,
		CheckType:       c.Type(),
		Location:        location,
		ScheduledAt:     timestamppb.New(tick),
		StartedAt:       timestamppb.New(r.Start),
		Duration:        durationpb.New(r.Duration),
		TimeToFirstByte: durationpb.New(r.TTFB),
		HttpStatus:      uint32(r.HTTPStatus),
		Success:         r.Success,
		FailureClass:    r.Class,
		FailureMessage:  r.Message,
		Interval:        durationpb.New(c.Interval),
		Labels:          c.Labels,
		Attempts:        uint32(attempts),
		Phases:          phases(r.Phases),
	}
	for _, st := range r.Steps {
		sr := st.Result
		ev.Steps = append(ev.Steps, &eventsv1.StepResult{
			Name: st.Name, Duration: durationpb.New(sr.Duration), TimeToFirstByte: durationpb.New(sr.TTFB),
			HttpStatus: uint32(sr.HTTPStatus), Success: sr.Success, FailureClass: sr.Class, FailureMessage: sr.Message,
			Phases: phases(sr.Phases), Assertions: outcomes(sr.Assertions),
		})
	}
	ev.Assertions = outcomes(r.Assertions)
	if r.Cert != nil {
		ev.Certificate = &eventsv1.Certificate{
			NotAfter: timestamppb.New(r.Cert.NotAfter), Subject: r.Cert.Subject, Issuer: r.Cert.Issuer, Verified: r.Cert.Verified,
		}
	}
	return ev
}

func (p *Prober) emit(c check.Check, cm *checkMetrics, tick time.Time, r probe.Result, attempts int) {
	m := p.metrics
	switch {
	case r.Success:
		if cm.runsOK == nil {
			cm.runsOK = m.runs.WithLabelValues(c.ID, "none")
			cm.durOK = m.duration.WithLabelValues(c.ID, p.cfg.Location, "success")
		}
		cm.runsOK.Inc()
		cm.durOK.Observe(r.Duration.Seconds())
	case r.Class == eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD: // a run not run has no duration
		m.runs.WithLabelValues(c.ID, failureReason(r.Class)).Inc()
	default:
		m.runs.WithLabelValues(c.ID, failureReason(r.Class)).Inc()
		if cm.durFail == nil {
			cm.durFail = m.duration.WithLabelValues(c.ID, p.cfg.Location, "failure")
		}
		cm.durFail.Observe(r.Duration.Seconds())
	}
	for i, d := range [...]time.Duration{r.Phases.DNS, r.Phases.Connect, r.Phases.TLS, r.Phases.Processing, r.Phases.Transfer} {
		if d > 0 {
			m.phase[i]().Observe(d.Seconds())
		}
	}

	ev := Result(c, p.cfg.Location, tick, r, attempts)
	value, err := proto.Marshal(ev)
	if err != nil { // cannot happen for a well-formed message; never drop silently
		p.log.Error("encode result", "check", c.ID, "err", err)
		p.metrics.produceError.Inc()
		return
	}
	p.outbox.Put(outbox.Record{Key: []byte(c.ID), Value: value, TimestampMS: tick.UnixMilli()})
}

func phases(p probe.Phases) *eventsv1.Phases {
	return &eventsv1.Phases{
		Dns:              durationpb.New(p.DNS),
		Connect:          durationpb.New(p.Connect),
		TlsHandshake:     durationpb.New(p.TLS),
		ServerProcessing: durationpb.New(p.Processing),
		Transfer:         durationpb.New(p.Transfer),
	}
}

func outcomes(as []assert.Outcome) []*eventsv1.AssertionOutcome {
	var out []*eventsv1.AssertionOutcome
	for _, a := range as {
		out = append(out, &eventsv1.AssertionOutcome{Assertion: a.Assertion, Passed: a.Passed, Message: a.Message})
	}
	return out
}

func failureReason(c eventsv1.FailureClass) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "FAILURE_CLASS_"))
}

// notRun is the result of a run the prober did not run, or did not finish,
// by its own fault: failure class OVERLOAD, which is never counted against
// the target.
func notRun(start time.Time, msg string) probe.Result {
	return probe.Result{Start: start, Class: eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD, Message: msg}
}
