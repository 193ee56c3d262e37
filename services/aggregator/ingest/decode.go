// Package ingest turns result records into ClickHouse rows, refusing records
// that cannot be trusted with an error that names the field.
package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
)

// The scheduled times a result may have: the rollups' buckets (up to a day
// past the result) and ClickHouse's DateTime range must hold them. A result
// outside would be stored but fail every rollup rebuild, stopping ingestion.
var (
	minScheduledAt = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxScheduledAt = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrInvalid marks a record that decoded but breaks the CheckResult contract.
var ErrInvalid = errors.New("invalid CheckResult")

// Decode decodes and validates a results record.
func Decode(r *kgo.Record) (*eventsv1.CheckResult, error) {
	var ev eventsv1.CheckResult
	if err := events.Decode(events.CheckResultV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
		return nil, err
	}
	if err := Validate(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Validate checks the fields every consumer relies on.
func Validate(ev *eventsv1.CheckResult) error {
	invalid := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: field %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	switch {
	case ev.GetCheckId() == "":
		return invalid("check_id", "missing")
	case ev.GetLocation() == "":
		return invalid("location", "missing")
	case ev.GetScheduledAt() == nil:
		return invalid("scheduled_at", "missing")
	case ev.GetScheduledAt().CheckValid() != nil:
		return invalid("scheduled_at", "%v", ev.GetScheduledAt().CheckValid())
	case ev.GetScheduledAt().AsTime().Before(minScheduledAt) || !ev.GetScheduledAt().AsTime().Before(maxScheduledAt):
		return invalid("scheduled_at", "%s is outside [%s, %s)", ev.GetScheduledAt().AsTime().Format(time.RFC3339Nano),
			minScheduledAt.Format(time.RFC3339), maxScheduledAt.Format(time.RFC3339))
	case ev.GetHttpStatus() > 599:
		return invalid("http_status", "%d is not an HTTP status", ev.GetHttpStatus())
	}
	for _, d := range []struct {
		field string
		d     *durationpb.Duration
	}{
		{"duration", ev.GetDuration()}, {"time_to_first_byte", ev.GetTimeToFirstByte()}, {"interval", ev.GetInterval()},
		{"phases.dns", ev.GetPhases().GetDns()}, {"phases.connect", ev.GetPhases().GetConnect()},
		{"phases.tls_handshake", ev.GetPhases().GetTlsHandshake()},
		{"phases.server_processing", ev.GetPhases().GetServerProcessing()}, {"phases.transfer", ev.GetPhases().GetTransfer()},
	} {
		if d.d == nil {
			continue
		}
		if err := d.d.CheckValid(); err != nil {
			return invalid(d.field, "%v", err)
		}
		if d.d.AsDuration() < 0 {
			return invalid(d.field, "negative")
		}
	}
	if want := events.ResultID(ev.GetCheckId(), ev.GetLocation(), ev.GetScheduledAt().AsTime()); ev.GetResultId() != want {
		return invalid("result_id", "%q is not the id of check %q at %q for tick %s (want %q)",
			ev.GetResultId(), ev.GetCheckId(), ev.GetLocation(), ev.GetScheduledAt().AsTime(), want)
	}
	return nil
}

// Row is the check_results row of an event.
func Row(ev *eventsv1.CheckResult) store.ResultRow {
	class := ""
	if !ev.GetSuccess() {
		class = eventsv1.FailureClass_name[int32(ev.GetFailureClass())]
	}
	row := store.ResultRow{
		ResultID:       ev.GetResultId(),
		CheckID:        ev.GetCheckId(),
		CheckName:      ev.GetCheckName(),
		CheckType:      ev.GetCheckType(),
		Location:       ev.GetLocation(),
		ScheduledAt:    ev.GetScheduledAt().AsTime(),
		StartedAt:      ev.GetStartedAt().AsTime(),
		DurationMS:     ms(ev.GetDuration()),
		TTFBMS:         ms(ev.GetTimeToFirstByte()),
		HTTPStatus:     uint16(ev.GetHttpStatus()),
		Success:        ev.GetSuccess(),
		FailureClass:   class,
		FailureMessage: ev.GetFailureMessage(),
		IntervalMS:     uint32(ev.GetInterval().AsDuration().Milliseconds()),
		DNSMS:          ms(ev.GetPhases().GetDns()),
		ConnectMS:      ms(ev.GetPhases().GetConnect()),
		TLSMS:          ms(ev.GetPhases().GetTlsHandshake()),
		ProcessingMS:   ms(ev.GetPhases().GetServerProcessing()),
		TransferMS:     ms(ev.GetPhases().GetTransfer()),
		CertIssuer:     ev.GetCertificate().GetIssuer(),
		Attempts:       uint8(min(max(ev.GetAttempts(), 1), 255)),
		Labels:         ev.GetLabels(),
	}
	if na := ev.GetCertificate().GetNotAfter(); na != nil {
		row.CertNotAfter = na.AsTime()
	}
	if !ev.GetSuccess() {
		row.FailedStep, row.FailedAssertion = failedAt(ev)
	}
	return row
}

// failedAt is the journey step a failed run failed at (the last that ran,
// when it failed) and the first assertion that failed: the run's own or,
// in a journey, the failed step's.
func failedAt(ev *eventsv1.CheckResult) (step, assertion string) {
	assertions := ev.GetAssertions()
	if steps := ev.GetSteps(); len(steps) > 0 {
		if last := steps[len(steps)-1]; !last.GetSuccess() {
			step, assertions = last.GetName(), last.GetAssertions()
		}
	}
	for _, a := range assertions {
		if !a.GetPassed() {
			return step, a.GetAssertion()
		}
	}
	return step, ""
}

// ms is a duration in milliseconds, to the microsecond; nil is 0.
func ms(d *durationpb.Duration) float64 {
	return float64(d.AsDuration().Microseconds()) / 1000
}

// Sample is what the alert rules see of an event.
func Sample(ev *eventsv1.CheckResult) alert.Sample {
	s := alert.Sample{
		ResultID: ev.GetResultId(), Location: ev.GetLocation(), At: ev.GetScheduledAt().AsTime(),
		Interval: ev.GetInterval().AsDuration(), Success: ev.GetSuccess(),
		// Through milliseconds as stored, so live and restored evaluations agree.
		Duration: time.Duration(ms(ev.GetDuration()) * float64(time.Millisecond)),
		// As stored: the class is kept for failures only (Row).
		Skipped: !ev.GetSuccess() && ev.GetFailureClass() == eventsv1.FailureClass_FAILURE_CLASS_OVERLOAD,
	}
	if na := ev.GetCertificate().GetNotAfter(); na != nil {
		s.CertNotAfter = na.AsTime().Truncate(time.Millisecond)
	}
	return s
}

// StoredSample is what the alert rules see of a stored result.
func StoredSample(r store.RecentResult) alert.Sample {
	s := alert.Sample{
		ResultID: r.ResultID, Location: r.Location, At: r.ScheduledAt,
		Interval: time.Duration(r.IntervalMS) * time.Millisecond, Success: r.Success,
		Duration: time.Duration(r.DurationMS * float64(time.Millisecond)),
		Skipped:  r.FailureClass == store.OverloadClass,
	}
	if r.CertNotAfter.Unix() > 0 {
		s.CertNotAfter = r.CertNotAfter
	}
	return s
}
