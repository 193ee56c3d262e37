package check

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the checks-file loader: it may refuse
// them, never panic; and every check it accepts must survive the trip
// through the definitions topic.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("checks:\n  - id: j\n    journey: {steps: [{name: a, url: 'http://x.test/', extract: {t: {json: $.a[0]}}}, {name: b, url: 'http://x.test/${t}'}]}\n"))
	f.Add([]byte("checks: [{id: a, http: {url: 'http://x.test/'}, assertions: [{json: {path: '$.a', op: '<', value: 3}}]}]\n"))
	f.Add([]byte("base: &b {interval: 1m}\nchecks: [{<<: *b, id: a, tcp: {address: 'x:1'}}]\n"))
	f.Add([]byte("checks: [~, {id: 1}, [a], {id: a, labels: {1: [x]}}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checks, err := Decode(b)
		if err != nil {
			return
		}
		for _, c := range checks {
			if hasBodyFile(c) {
				continue // body files are read before publishing
			}
			def, err := MarshalDefinition(c)
			if err != nil {
				t.Fatalf("%s: valid check does not marshal: %v", c.ID, err)
			}
			if _, err := UnmarshalDefinition(def); err != nil {
				t.Fatalf("%s: valid check's definition is refused: %v\n%s", c.ID, err, def)
			}
		}
	})
}

// FuzzUnmarshalDefinition feeds arbitrary records of the definitions topic
// to the prober's decoder: refused or accepted, never a panic.
func FuzzUnmarshalDefinition(f *testing.F) {
	f.Add([]byte("id: x\nhttp: {url: 'http://x.test/', tls: {ca_file: /etc/ca.pem}, bearer_token_env: T}\n"))
	f.Add([]byte("id: x\ninterval: soon\n"))
	f.Add([]byte("id: x\ntls: {address: 'x:443', min_days_left: 3}\nassertions: [{certificate_days_left: 2}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = UnmarshalDefinition(b)
	})
}

func hasBodyFile(c Check) bool {
	if c.HTTP != nil && c.HTTP.BodyFile != "" {
		return true
	}
	if c.Journey != nil {
		for _, st := range c.Journey.Steps {
			if st.HTTP.BodyFile != "" {
				return true
			}
		}
	}
	return false
}
