package events

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// FuzzDecode: whatever headers and bytes a record carries, Decode never
// panics, for both schemas; a record it accepts round-trips, and its errors
// name the header, or the field (or the byte) that is wrong.
func FuzzDecode(f *testing.F) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	result, _ := proto.Marshal(&eventsv1.CheckResult{ResultId: ResultID("api", "eu", at), CheckId: "api", Location: "eu",
		ScheduledAt: timestamppb.New(at), Duration: durationpb.New(time.Second),
		Phases: &eventsv1.Phases{Dns: durationpb.New(time.Millisecond)}, Labels: map[string]string{"team": "core"}})
	alert, _ := proto.Marshal(&eventsv1.AlertStateChanged{EventId: "e", CheckId: "api", Rule: "availability",
		State: eventsv1.AlertState_ALERT_STATE_DOWN, At: timestamppb.New(at), FailingLocations: []string{"eu"},
		Window: durationpb.New(time.Minute)})
	rs, as := string(CheckResultV1.Name), string(AlertStateChangedV1.Name)
	f.Add(rs, "1", result, false)
	f.Add(as, "1", alert, true)
	f.Add(rs, "1", result[:len(result)-3], false)
	f.Add(as, "1", alert[:7], true)
	f.Add(as, "1", result, true)
	f.Add(rs, "1", alert, false)
	f.Add(rs, "2", result, false)
	f.Add("", "", []byte("not protobuf \xff\xfe"), false)
	f.Add(rs, "1", []byte{0x12, 0x02, 0xff, 0xfe}, false)       // check_id not UTF-8
	f.Add(rs, "1", []byte{0x7a, 0x03, 0x0a, 0x05, 0x08}, false) // phases.dns truncated
	f.Add(as, "1", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, true)
	f.Fuzz(func(t *testing.T, schema, version string, value []byte, isAlert bool) {
		s, m := CheckResultV1, proto.Message(&eventsv1.CheckResult{})
		if isAlert {
			s, m = AlertStateChangedV1, &eventsv1.AlertStateChanged{}
		}
		err := Decode(s, []Header{{HeaderSchema, schema}, {HeaderSchemaVersion, version}}, value, m)
		if err != nil {
			msg := err.Error()
			switch {
			case errors.Is(err, ErrSchema):
				if !strings.Contains(msg, "header "+HeaderSchema) {
					t.Fatalf("schema error names no header: %q", msg)
				}
			case !strings.HasPrefix(msg, "decode "+string(s.Name)+": "):
				t.Fatalf("decode error names no schema: %q", msg)
			case !strings.Contains(msg, "(field ") && !strings.Contains(msg, " at byte "):
				t.Fatalf("decode error names neither field nor byte: %q", msg)
			}
			return
		}
		if schema != string(s.Name) || version != "1" {
			t.Fatalf("decoded %s under headers %q %q", s.Name, schema, version)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("a decoded %s does not encode: %v", s.Name, err)
		}
		again := m.ProtoReflect().New().Interface()
		if err := Decode(s, s.Headers(), b, again); err != nil || !proto.Equal(m, again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// A value that does not decode says which field is broken, nested fields by
// their path.
func TestDecodeNamesTheBrokenField(t *testing.T) {
	for _, tc := range []struct {
		value []byte
		want  string
	}{
		{[]byte{0x12, 0x02, 0xff, 0xfe}, "(field check_id (2) at byte 0)"},
		{[]byte{0x12, 0x01, 'a', 0x7a, 0x04, 0x0a, 0x02, 0x08, 0x80}, "(field phases.dns.seconds (15.1.1): unexpected EOF at byte 7)"},
		{[]byte{0x7a, 0x05, 0x0a}, "(field phases (15): unexpected EOF at byte 0)"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, " at byte 0)"},
	} {
		err := Decode(CheckResultV1, CheckResultV1.Headers(), tc.value, &eventsv1.CheckResult{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("% x: %v, want it to say %q", tc.value, err, tc.want)
		}
	}
}
