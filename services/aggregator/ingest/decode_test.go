package ingest

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

func TestRowMapsEveryField(t *testing.T) {
	tick := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	notAfter := tick.Add(90 * 24 * time.Hour)
	ev := &eventsv1.CheckResult{
		ResultId: events.ResultID("api", "eu", tick), CheckId: "api", CheckName: "API", CheckType: "http", Location: "eu",
		ScheduledAt: timestamppb.New(tick), StartedAt: timestamppb.New(tick.Add(time.Millisecond)),
		Duration: durationpb.New(1234567 * time.Microsecond), TimeToFirstByte: durationpb.New(250 * time.Millisecond),
		HttpStatus: 503, FailureClass: eventsv1.FailureClass_FAILURE_CLASS_STATUS, FailureMessage: "status 503, expected 200",
		Interval: durationpb.New(5 * time.Second),
		Phases: &eventsv1.Phases{Dns: durationpb.New(time.Millisecond), Connect: durationpb.New(2 * time.Millisecond),
			TlsHandshake: durationpb.New(3 * time.Millisecond), ServerProcessing: durationpb.New(240 * time.Millisecond),
			Transfer: durationpb.New(984567 * time.Microsecond)},
		Certificate: &eventsv1.Certificate{NotAfter: timestamppb.New(notAfter), Issuer: "CN=Test CA"},
		Attempts:    3,
	}
	if err := Validate(ev); err != nil {
		t.Fatal(err)
	}
	r := Row(ev)
	if r.DurationMS != 1234.567 || r.TTFBMS != 250 || r.DNSMS != 1 || r.ConnectMS != 2 || r.TLSMS != 3 ||
		r.ProcessingMS != 240 || r.TransferMS != 984.567 || r.IntervalMS != 5000 || r.HTTPStatus != 503 ||
		r.FailureClass != "FAILURE_CLASS_STATUS" || !r.CertNotAfter.Equal(notAfter) || r.CertIssuer != "CN=Test CA" || r.Attempts != 3 {
		t.Fatalf("row %+v", r)
	}
	ev.Success, ev.Certificate, ev.Phases, ev.Attempts = true, nil, nil, 0
	r = Row(ev)
	if r.FailureClass != "" || !r.CertNotAfter.IsZero() || r.DNSMS != 0 || r.Attempts != 1 {
		t.Fatalf("success without phases or certificate: %+v", r)
	}
}

// A failed run's row names the journey step it failed at and the first
// assertion that failed — the step's in a journey, the run's otherwise; a
// successful run names neither.
func TestRowNamesWhatFailed(t *testing.T) {
	journey := validResult()
	journey.Success = false
	journey.Assertions = []*eventsv1.AssertionOutcome{{Assertion: "status == 200", Passed: true}}
	journey.Steps = []*eventsv1.StepResult{
		{Name: "login", Success: true, Assertions: []*eventsv1.AssertionOutcome{{Assertion: "status == 200", Passed: true}}},
		{Name: "checkout", Success: false, Assertions: []*eventsv1.AssertionOutcome{
			{Assertion: "status == 200", Passed: true}, {Assertion: `json $.ok == true`, Passed: false}, {Assertion: "body contains x", Passed: false}}},
	}
	if r := Row(journey); r.FailedStep != "checkout" || r.FailedAssertion != `json $.ok == true` {
		t.Errorf("journey: step %q assertion %q", r.FailedStep, r.FailedAssertion)
	}
	plain := validResult()
	plain.Success = false
	plain.Assertions = []*eventsv1.AssertionOutcome{{Assertion: "duration < 1s", Passed: false}}
	if r := Row(plain); r.FailedStep != "" || r.FailedAssertion != "duration < 1s" {
		t.Errorf("plain: step %q assertion %q", r.FailedStep, r.FailedAssertion)
	}
	plain.Success = true
	if r := Row(plain); r.FailedStep != "" || r.FailedAssertion != "" {
		t.Errorf("success: step %q assertion %q", r.FailedStep, r.FailedAssertion)
	}
}

// A result the rows would take but a rollup rebuild would not (a scheduled
// time whose day bucket ends past ClickHouse's range: the rebuild fails on
// every retry and ingestion stops), or whose durations are negative, is
// refused naming the field, so it is dead-lettered instead.
func TestValidateRefusesValuesTheStoreCannotHold(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*eventsv1.CheckResult)
		want   string
	}{
		{func(ev *eventsv1.CheckResult) {
			ev.ScheduledAt = timestamppb.New(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
		},
			"invalid CheckResult: field scheduled_at: 9999-12-31T23:59:59Z is outside [1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"},
		{func(ev *eventsv1.CheckResult) {
			ev.ScheduledAt = timestamppb.New(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC))
		},
			"invalid CheckResult: field scheduled_at: 1969-12-31T00:00:00Z is outside"},
		{func(ev *eventsv1.CheckResult) { ev.Interval = durationpb.New(-time.Second) }, "invalid CheckResult: field interval: negative"},
		{func(ev *eventsv1.CheckResult) { ev.TimeToFirstByte = durationpb.New(-time.Second) },
			"invalid CheckResult: field time_to_first_byte: negative"},
		{func(ev *eventsv1.CheckResult) {
			ev.Phases = &eventsv1.Phases{Transfer: durationpb.New(-time.Millisecond)}
		},
			"invalid CheckResult: field phases.transfer: negative"},
		{func(ev *eventsv1.CheckResult) { ev.Duration = &durationpb.Duration{Seconds: 1, Nanos: -1} },
			"invalid CheckResult: field duration: "},
	} {
		ev := validResult()
		tc.mutate(ev)
		ev.ResultId = events.ResultID(ev.GetCheckId(), ev.GetLocation(), ev.GetScheduledAt().AsTime())
		if err := Validate(ev); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want %q", err, tc.want)
		}
	}
	if err := Validate(validResult()); err != nil {
		t.Fatal(err)
	}
}
