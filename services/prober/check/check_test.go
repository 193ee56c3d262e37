package check

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadRefusesInvalidFiles(t *testing.T) {
	want := map[string]string{
		"invalid-unknown-field.yaml":    "checks file testdata/invalid-unknown-field.yaml: checks[0] (api): http.methd: unknown field; did you mean method?",
		"invalid-timeout.yaml":          "checks file testdata/invalid-timeout.yaml: checks[0] (api): timeout: 5s must be below interval 5s so runs never overlap",
		"invalid-url.yaml":              `checks file testdata/invalid-url.yaml: checks[0] (api): http.url: "ftp://example.test/" must be an http or https URL`,
		"invalid-duplicate-id.yaml":     `checks file testdata/invalid-duplicate-id.yaml: checks[1]: id "api" is also used by checks[0]`,
		"invalid-status.yaml":           "checks file testdata/invalid-status.yaml: checks[0] (api): http.expected_status[1]: 700 is not an HTTP status",
		"invalid-id.yaml":               `checks file testdata/invalid-id.yaml: checks[0] (My API): id: "My API" must be lower-case letters, digits, '.', '_' or '-' (at most 128)`,
		"invalid-no-type.yaml":          "checks file testdata/invalid-no-type.yaml: checks[0] (api): a check type is required: one of http, tcp, dns, tls, journey",
		"invalid-two-types.yaml":        "checks file testdata/invalid-two-types.yaml: checks[0] (api): http, tcp: a check has exactly one type",
		"invalid-dns-type.yaml":         `checks file testdata/invalid-dns-type.yaml: checks[0] (ns): dns.type: "AXFR" is not one of A, AAAA, CNAME, MX, NS, TXT, SOA, SRV, PTR, CAA`,
		"invalid-tcp-address.yaml":      `checks file testdata/invalid-tcp-address.yaml: checks[0] (db): tcp.address: "db.example.test": want host:port`,
		"invalid-tls-ca.yaml":           "checks file testdata/invalid-tls-ca.yaml: checks[0] (cert): tls.ca_file: testdata/valid.yaml holds no PEM certificate",
		"invalid-assertion.yaml":        `checks file testdata/invalid-assertion.yaml: checks[0] (health): assertions[1]: json.op: "=" is not one of ==, !=, <, >, contains, exists`,
		"invalid-assertion-type.yaml":   `checks file testdata/invalid-assertion-type.yaml: checks[0] (db): assertions[0]: body contains "ready" needs an http check`,
		"invalid-retries.yaml":          "checks file testdata/invalid-retries.yaml: checks[0] (api): retries: 2 retries of timeout 3s, 1s apart, can take 11s, not below interval 10s",
		"invalid-http-version.yaml":     `checks file testdata/invalid-http-version.yaml: checks[0] (api): http.http_version: "3" is not 1.1 or 2`,
		"invalid-inline-password.yaml":  "checks file testdata/invalid-inline-password.yaml: checks[0] (api): http.basic_auth.password: unknown field; did you mean password_env?",
		"invalid-journey-variable.yaml": "checks file testdata/invalid-journey-variable.yaml: checks[0] (shop): journey.steps[1].headers.Authorization: ${tokn} is not extracted by an earlier step",
		"invalid-label.yaml":            "checks file testdata/invalid-label.yaml: checks[0] (api): labels.Team: label names are lower-case letters, digits and '_', starting with a letter",
		"invalid-interval.yaml":         `checks file testdata/invalid-interval.yaml: checks[0] (api): interval: "later" is not a duration (like 500ms, 30s or 1m)`,
		// Type errors name the check and the field as the semantic errors do.
		"invalid-field-typo.yaml":         "checks file testdata/invalid-field-typo.yaml: checks[0] (api): intervall: unknown field; did you mean interval?",
		"invalid-duration.yaml":           `checks file testdata/invalid-duration.yaml: checks[1]: timeout: "5sec" is not a duration (like 500ms, 30s or 1m)`,
		"invalid-status-type.yaml":        `checks file testdata/invalid-status-type.yaml: checks[0] (api): http.expected_status: want a list, got "200"`,
		"invalid-step-field.yaml":         "checks file testdata/invalid-step-field.yaml: checks[0] (shop): journey.steps[0].extract.token.jsn: unknown field; did you mean json?",
		"invalid-assertion-duration.yaml": `checks file testdata/invalid-assertion-duration.yaml: checks[0] (api): assertions[0].response_time.below: "fast" is not a duration (like 500ms, 30s or 1m)`,
		"invalid-top-level.yaml":          "checks file testdata/invalid-top-level.yaml: check: unknown field; did you mean checks?",
		"invalid-retries-type.yaml":       `checks file testdata/invalid-retries-type.yaml: checks[0] (api): retries: "two" is not a whole number`,
		"invalid-duplicate-field.yaml":    "checks file testdata/invalid-duplicate-field.yaml: checks[0] (api): interval: given twice, on lines 3 and 5",
		"invalid-checks-mapping.yaml":     "checks file testdata/invalid-checks-mapping.yaml: checks: want a list, got a mapping",
	}
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) != len(want) {
		t.Fatalf("%d invalid files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil || err.Error() != want[filepath.Base(f)] {
				t.Fatalf("error %v\nwant  %s", err, want[filepath.Base(f)])
			}
		})
	}
}

func TestLoadAppliesDefaults(t *testing.T) {
	checks, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, h := checks[0], checks[1]
	if r.HTTP.Method != "POST" || r.Timeout != 4*time.Second || r.HTTP.ExpectedStatus[0] != 200 || r.Type() != "http" {
		t.Fatalf("reservations: %+v %+v", r, r.HTTP)
	}
	if h.Name != "home" || h.Interval != DefaultInterval || h.Timeout != DefaultTimeout || h.HTTP.Method != "GET" {
		t.Fatalf("home: %+v %+v", h, h.HTTP)
	}
}

// The compose deployment's checks file loads.
func TestComposeChecksLoad(t *testing.T) {
	checks, err := Load("../../../deploy/checks.yaml")
	if err != nil || len(checks) != 1 || checks[0].HTTP.URL != "http://demo:8081/reservations" {
		t.Fatalf("%+v %v", checks, err)
	}
}

func TestDefinitionInlinesBodyFiles(t *testing.T) {
	dir := t.TempDir()
	body := filepath.Join(dir, "body.json")
	os.WriteFile(body, []byte(`{"a":1}`), 0o644)
	checks, err := Parse([]byte(`checks:
  - {id: h, http: {url: "http://x.test/", body_file: "` + body + `"}}
  - id: j
    journey: {steps: [{name: s, url: "http://x.test/", body_file: "` + body + `"}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(body) // the prober that reads the definition does not have the file
	for _, c := range checks {
		b, err := MarshalDefinition(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalDefinition(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.ID, err, b)
		}
		if err := got.Compile(); err != nil {
			t.Fatalf("%s: compile: %v", c.ID, err)
		}
		h := got.HTTP
		if got.Journey != nil {
			h = &got.Journey.Steps[0].HTTP
		}
		if h.RequestBody() != `{"a":1}` || h.BodyFile != "" {
			t.Fatalf("%s: body %q, body_file %q", c.ID, h.RequestBody(), h.BodyFile)
		}
	}
}

func TestDefinitionRoundTrip(t *testing.T) {
	checks, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		b, err := MarshalDefinition(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalDefinition(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.ID, err, b)
		}
		again, _ := MarshalDefinition(got)
		if string(again) != string(b) {
			t.Fatalf("%s does not round-trip:\n%s\n---\n%s", c.ID, b, again)
		}
	}
	if _, err := UnmarshalDefinition([]byte("id: x\nhttp: {url: 'ftp://x'}\n")); err == nil ||
		err.Error() != `check definition x: http.url: "ftp://x" must be an http or https URL` {
		t.Fatalf("invalid definition: %v", err)
	}
}
