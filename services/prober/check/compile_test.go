package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Decode and Validate read nothing: a checks file naming a secret and a CA
// file that this machine lacks validates; Compile, where the check runs,
// reads them and names the field that could not be resolved.
func TestDecodeReadsNoFileOrEnvironment(t *testing.T) {
	const env = "PICKET_TEST_CHECK_SECRET"
	t.Setenv(env, "")
	os.Unsetenv(env)
	missing := filepath.Join(t.TempDir(), "missing")
	src := `checks:
  - id: tls-ca
    http: {url: "https://a.test/", tls: {ca_file: "` + missing + `.pem"}}
  - id: token
    http: {url: "https://a.test/", bearer_token_env: ` + env + `}
  - id: password
    http: {url: "https://a.test/", basic_auth: {username: u, password_env: ` + env + `}}
  - id: body
    http: {url: "https://a.test/", method: POST, body_file: "` + missing + `.json"}
  - id: cert
    tls: {address: "a.test:443", ca_file: "` + missing + `.pem"}
  - id: step
    journey: {steps: [{name: login, url: "https://a.test/", bearer_token_env: ` + env + `}]}
`
	checks, err := Decode([]byte(src))
	if err != nil {
		t.Fatalf("Decode read something: %v", err)
	}
	want := map[string]string{
		"tls-ca":   "http.tls.ca_file: open " + missing + ".pem: no such file or directory",
		"token":    "http.bearer_token_env: environment variable " + env + " is not set",
		"password": "http.basic_auth.password_env: environment variable " + env + " is not set",
		"body":     "http.body_file: open " + missing + ".json: no such file or directory",
		"cert":     "tls.ca_file: open " + missing + ".pem: no such file or directory",
		"step":     "journey.steps[0].bearer_token_env: environment variable " + env + " is not set",
	}
	for _, c := range checks {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", c.ID, err)
		}
		if err := c.Runnable(); err == nil || err.Error() != "not compiled" {
			t.Errorf("%s: a decoded check is runnable: %v", c.ID, err)
		}
		err := c.Compile()
		if err == nil || err.Error() != want[c.ID] {
			t.Errorf("%s: Compile error %v\nwant %s", c.ID, err, want[c.ID])
		}
		if r := c.Runnable(); r == nil || r.Error() != want[c.ID] {
			t.Errorf("%s: Runnable %v", c.ID, r)
		}
	}
	if _, err := Parse([]byte(src)); err == nil || err.Error() != "checks[0] (tls-ca): "+want["tls-ca"] {
		t.Fatalf("Parse (decode and compile): %v", err)
	}
}

// LoadDefinitions inlines body files (config as code, next to the checks
// file) and keeps secrets and CA files as references.
func TestLoadDefinitionsKeepsReferences(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"guest":"synthetic"}`), 0o644)
	file := filepath.Join(dir, "checks.yaml")
	os.WriteFile(file, []byte(`checks:
  - id: api
    http:
      method: POST
      url: https://a.test/
      body_file: `+filepath.Join(dir, "body.json")+`
      bearer_token_env: PICKET_TEST_NOT_HERE
      tls: {ca_file: /etc/prober/ca.pem}
`), 0o644)
	checks, err := LoadDefinitions(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalDefinition(checks[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`body: '{"guest":"synthetic"}'`, "bearer_token_env: PICKET_TEST_NOT_HERE", "ca_file: /etc/prober/ca.pem"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("definition lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), dir) {
		t.Errorf("definition names the applying machine's body_file:\n%s", b)
	}
	os.WriteFile(file, []byte("checks:\n  - {id: api, http: {url: 'https://a.test/', body_file: "+filepath.Join(dir, "nope.json")+"}}\n"), 0o644)
	if _, err := LoadDefinitions(file); err == nil || err.Error() != "checks file "+file+": checks[0] (api): http.body_file: open "+filepath.Join(dir, "nope.json")+": no such file or directory" {
		t.Fatalf("missing body file: %v", err)
	}
}

func TestDefinitionTypeErrorNamesTheField(t *testing.T) {
	_, err := UnmarshalDefinition([]byte("id: x\ninterval: soon\nhttp: {url: 'http://x.test/'}\n"))
	if err == nil || err.Error() != `check definition: interval: "soon" is not a duration (like 500ms, 30s or 1m)` {
		t.Fatalf("error %v", err)
	}
}

// Neither Validate nor Compile rewrites a check: its encoding (the
// prober's fingerprint of a definition) is the same before and after, so an
// unchanged check is never restarted by a reload.
func TestValidateAndCompileRewriteNothing(t *testing.T) {
	for _, src := range []string{
		`{id: a, http: {url: "http://a.test/"}, assertions: [{response_time: {below: 1s}}, {status: [2xx]}]}`,
		`{id: j, journey: {steps: [{name: s, url: "http://a.test/", assertions: [{response_time: {below: 1s}}]}]}}`,
	} {
		var c Check
		if err := yaml.Unmarshal([]byte(src), &c); err != nil {
			t.Fatal(err)
		}
		c.ApplyDefaults()
		before, _ := MarshalDefinition(c)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		validated, _ := MarshalDefinition(c)
		if err := c.Compile(); err != nil {
			t.Fatal(err)
		}
		compiled, _ := MarshalDefinition(c)
		if string(validated) != string(before) || string(compiled) != string(before) {
			t.Fatalf("%s changed:\n%s\n--- validated\n%s\n--- compiled\n%s", c.ID, before, validated, compiled)
		}
	}
}
