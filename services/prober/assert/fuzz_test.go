package assert

import (
	"net/http"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// FuzzPath parses arbitrary JSON paths and looks them up in arbitrary
// bodies: an error, never a panic.
func FuzzPath(f *testing.F) {
	f.Add("$.items[0].status", []byte(`{"items":[{"status":"UP"}]}`))
	f.Add("$[1][0]", []byte(`[[1],[2,3]]`))
	f.Add("$.a.b", []byte(`{"a":null}`))
	f.Add("$[99999999999999999999]", []byte(`[]`))
	f.Add("$.", []byte(`{`))
	f.Add("$[", []byte(``))
	f.Add("$[-1]", []byte(`[1]`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		p, err := ParsePath(path)
		if err != nil {
			return
		}
		_, _ = p.Find(body)
	})
}

// FuzzAssertion compiles an arbitrary assertion and judges arbitrary
// responses with it: a verdict, never a panic.
func FuzzAssertion(f *testing.F) {
	body := []byte(`{"status":"DOWN","checks":[{"latency_ms":12.5}],"tags":["eu"]}`)
	for _, src := range []string{
		"status: [2xx, 301, 400-404]",
		"response_time: {phase: ttfb, below: 300ms}",
		"body: {contains: ok}",
		"body: {matches: '^\\{'}",
		`json: {path: "$.checks[0].latency_ms", op: "<", value: 50}`,
		`json: {path: $.tags, op: contains, value: eu}`,
		`json: {path: $.status, op: "==", value: {a: [1]}}`,
		`json: {path: $.status, op: exists}`,
		"header: {name: Content-Type, matches: '^application/json'}",
		"certificate_days_left: 30",
	} {
		f.Add([]byte(src), 200, body, "application/json")
	}
	f.Add([]byte(`json: {path: $, op: ">", value: 1e400}`), 503, []byte(`1e308`), "")
	f.Fuzz(func(t *testing.T, src []byte, status int, body []byte, contentType string) {
		var a Assertion
		if yaml.Unmarshal(src, &a) != nil || a.Compile() != nil {
			return
		}
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		o := Observed{
			Status: status, Header: http.Header{"Content-Type": {contentType}}, Body: body,
			Timings:      map[string]time.Duration{"total": time.Duration(len(body)) * time.Millisecond},
			CertNotAfter: now.Add(time.Duration(status) * time.Hour), Now: now,
		}
		out := a.Check(o)
		if out.Assertion != a.String() {
			t.Fatalf("outcome names %q, assertion is %q", out.Assertion, a.String())
		}
		if !out.Passed && out.Message == "" {
			t.Fatalf("%s failed without saying why", a.String())
		}
	})
}
