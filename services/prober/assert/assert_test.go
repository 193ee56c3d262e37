package assert

import (
	"net/http"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func compile(t *testing.T, src string) *Assertion {
	t.Helper()
	var a Assertion
	if err := yaml.Unmarshal([]byte(src), &a); err != nil {
		t.Fatal(err)
	}
	if err := a.Compile(); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return &a
}

func TestAssertions(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	seen := Observed{
		Status:       503,
		Header:       http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:         []byte(`{"status":"DOWN","checks":[{"name":"db","latency_ms":12.5}],"tags":["eu","prod"],"maintenance":false}`),
		Timings:      map[string]time.Duration{"total": 420 * time.Millisecond, "connect": 3 * time.Millisecond},
		CertNotAfter: now.Add(10*24*time.Hour + time.Hour), Now: now,
	}
	tests := []struct {
		src, describe, message string // message "" means it passes
	}{
		{"status: [2xx]", "status 2xx", "status 503, expected 2xx"},
		{"status: [200, 500-503]", "status 200, 500-503", ""},
		{"status: [5xx]", "status 5xx", ""},
		{"response_time: {below: 300ms}", "total time below 300ms", "total time 420ms, expected below 300ms"},
		{"response_time: {phase: connect, below: 10ms}", "connect time below 10ms", ""},
		{"body: {contains: DOWN}", `body contains "DOWN"`, ""},
		{"body: {matches: '\"status\":\"UP\"'}", `body matches "\"status\":\"UP\""`, `body does not match "\"status\":\"UP\""`},
		{`json: {path: $.status, op: "==", value: UP}`, `json $.status == "UP"`, `$.status == "DOWN", expected "UP"`},
		{`json: {path: $.status, op: "!=", value: DOWN}`, `json $.status != "DOWN"`, `$.status == "DOWN", expected not "DOWN"`},
		{`json: {path: "$.checks[0].latency_ms", op: "<", value: 50}`, `json $.checks[0].latency_ms < 50`, ""},
		{`json: {path: "$.checks[0].latency_ms", op: ">", value: 50}`, "", `$.checks[0].latency_ms == 12.5, expected > 50`},
		{`json: {path: $.tags, op: contains, value: prod}`, "", ""},
		{`json: {path: $.maintenance, op: "==", value: false}`, "", ""},
		{`json: {path: "$.checks[1].name", op: exists}`, "", "$.checks[1].name not found"},
		{"header: {name: content-type, matches: '^application/json'}", "", ""},
		{"header: {name: Cache-Control, equals: no-store}", "", `header Cache-Control is "", expected "no-store"`},
		{"certificate_days_left: 7", "certificate expires in more than 7 days", ""},
		{"certificate_days_left: 30", "", "certificate expires in 10 days, expected more than 30"},
	}
	for _, tc := range tests {
		a := compile(t, tc.src)
		out := a.Check(seen)
		if tc.describe != "" && out.Assertion != tc.describe {
			t.Errorf("%s: described as %q, want %q", tc.src, out.Assertion, tc.describe)
		}
		if out.Passed != (tc.message == "") || out.Message != tc.message {
			t.Errorf("%s: passed=%v message %q, want %q", tc.src, out.Passed, out.Message, tc.message)
		}
	}
}

func TestInvalidAssertions(t *testing.T) {
	tests := map[string]string{
		"status: [2xx, 99]":                        `status[1]: "99" is not an HTTP status, class (2xx) or range (200-204)`,
		"status: [300-200]":                        `status[0]: "300-200" is not a range of HTTP statuses like 200-204`,
		"response_time: {phase: think, below: 1s}": "response_time.phase: \"think\" is not one of total, dns, connect, tls, processing, transfer, ttfb",
		"response_time: {below: 0s}":               "response_time.below: 0s must be positive",
		"body: {contains: a, matches: b}":          "body: want exactly one of contains, matches",
		"body: {matches: '('}":                     "body.matches: error parsing regexp: missing closing ): `(`",
		`json: {path: status, op: "=="}`:           `json.path: "status" must start with $`,
		`json: {path: $.a, op: "~="}`:              `json.op: "~=" is not one of ==, !=, <, >, contains, exists`,
		`json: {path: $.a, op: "<", value: high}`:  "json.value: high: < needs a number",
		"header: {equals: x}":                      "header.name: required",
		"{}":                                       "want exactly one of status, response_time, body, json, header, certificate_days_left",
	}
	for src, want := range tests {
		var a Assertion
		if err := yaml.Unmarshal([]byte(src), &a); err != nil {
			t.Fatal(err)
		}
		if err := a.Compile(); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", src, err, want)
		}
	}
}
