package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

func validResult() *eventsv1.CheckResult {
	tick := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return &eventsv1.CheckResult{
		ResultId: events.ResultID("api", "eu", tick), CheckId: "api", CheckName: "API", CheckType: "http", Location: "eu",
		ScheduledAt: timestamppb.New(tick), StartedAt: timestamppb.New(tick.Add(time.Millisecond)),
		Duration: durationpb.New(120 * time.Millisecond), HttpStatus: 200, Success: true, Interval: durationpb.New(5 * time.Second),
		Phases:      &eventsv1.Phases{Dns: durationpb.New(time.Millisecond)},
		Certificate: &eventsv1.Certificate{NotAfter: timestamppb.New(tick.Add(90 * 24 * time.Hour)), Issuer: "CN=CA"},
		Labels:      map[string]string{"team": "core"},
	}
}

func marshal(tb testing.TB, ev *eventsv1.CheckResult) []byte {
	b, err := proto.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzDecode: whatever bytes and headers a results record carries, Decode
// never panics; it either returns a result that every later step (Row,
// Sample) takes, or an error that names the header or the field, as the
// dead-letter reason must.
func FuzzDecode(f *testing.F) {
	name, version := string(events.CheckResultV1.Name), "1"
	good := marshal(f, validResult())
	f.Add(good, name, version)
	f.Add(good[:len(good)/2], name, version)
	f.Add(good, string(events.AlertStateChangedV1.Name), version)
	f.Add(good, name, "2")
	f.Add([]byte("not protobuf \xff\xfe"), name, version)
	f.Add([]byte{}, name, version)
	for _, mutate := range []func(*eventsv1.CheckResult){
		func(ev *eventsv1.CheckResult) { ev.ResultId = "forged" },
		func(ev *eventsv1.CheckResult) { ev.Duration = durationpb.New(-time.Second) },
		func(ev *eventsv1.CheckResult) { ev.HttpStatus = 600 },
		func(ev *eventsv1.CheckResult) { ev.ScheduledAt = &timestamppb.Timestamp{Seconds: 253402300799} },
		func(ev *eventsv1.CheckResult) { ev.ScheduledAt = &timestamppb.Timestamp{Seconds: 1, Nanos: -1} },
		func(ev *eventsv1.CheckResult) { ev.Interval = &durationpb.Duration{Seconds: 1, Nanos: -5} },
		func(ev *eventsv1.CheckResult) { ev.Phases.Dns = durationpb.New(-time.Millisecond) },
		func(ev *eventsv1.CheckResult) { ev.CheckId = "" },
		func(ev *eventsv1.CheckResult) {
			ev.Attempts = 1000
			ev.Certificate.NotAfter = &timestamppb.Timestamp{Seconds: -1 << 40}
		},
	} {
		ev := validResult()
		mutate(ev)
		f.Add(marshal(f, ev), name, version)
	}
	f.Fuzz(func(t *testing.T, value []byte, schema, version string) {
		r := &kgo.Record{Value: value, Headers: []kgo.RecordHeader{
			{Key: events.HeaderSchema, Value: []byte(schema)}, {Key: events.HeaderSchemaVersion, Value: []byte(version)}}}
		ev, err := Decode(r)
		if err != nil {
			msg := err.Error()
			switch {
			case errors.Is(err, events.ErrSchema):
				if !strings.Contains(msg, "header "+events.HeaderSchema) {
					t.Fatalf("schema error names no header: %q", msg)
				}
			case errors.Is(err, ErrInvalid):
				if !strings.HasPrefix(msg, "invalid CheckResult: field ") {
					t.Fatalf("invalid result names no field: %q", msg)
				}
			case strings.HasPrefix(msg, "decode picket.events.v1.CheckResult: "):
				if !strings.Contains(msg, "field ") && !strings.Contains(msg, " at byte ") {
					t.Fatalf("decode error says neither field nor byte: %q", msg)
				}
			default:
				t.Fatalf("unexpected error: %q", msg)
			}
			return
		}
		if schema != name || version != "1" {
			t.Fatalf("decoded under headers %q %q", schema, version)
		}
		row := Row(ev)
		if row.CheckID == "" || row.Location == "" || row.ScheduledAt.Before(minScheduledAt) || !row.ScheduledAt.Before(maxScheduledAt) ||
			row.DurationMS < 0 || row.TTFBMS < 0 || row.DNSMS < 0 || row.HTTPStatus > 599 || row.Attempts < 1 {
			t.Fatalf("a valid result gives the row %+v", row)
		}
		if s := Sample(ev); s.ResultID != row.ResultID || !s.At.Equal(row.ScheduledAt) || s.Duration < 0 {
			t.Fatalf("sample %+v of row %+v", s, row)
		}
	})
}
