package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// A definition record shows as one line of target and the definition with
// every credential it may carry redacted: headers and query parameters
// named like one, and a URL's password.
func TestParseDefinition(t *testing.T) {
	for def, want := range map[string]string{
		"id: a\nhttp:\n  method: post\n  url: https://shop.example/cart\n":                                                         "POST https://shop.example/cart",
		"id: a\ntcp:\n  address: db:5432\n":                                                                                        "tcp db:5432",
		"id: a\ndns:\n  name: example.com\n  type: AAAA\n  server: 1.1.1.1:53\n":                                                   "dns AAAA example.com @1.1.1.1:53",
		"id: a\ntls:\n  address: shop.example:443\n":                                                                               "tls shop.example:443",
		"id: a\njourney:\n  steps:\n  - name: login\n    method: GET\n    url: https://x/l\n  - name: buy\n    url: https://x/b\n": "journey of 2 steps from GET https://x/l",
		"id: a\n": "",
	} {
		d, err := ParseDefinition([]byte(def))
		if err != nil || d.Target != want {
			t.Errorf("%q: target %q (%v), want %q", def, d.Target, err, want)
		}
	}
	// Its name and labels, which label selectors read (an empty label too).
	d, err := ParseDefinition([]byte("id: a\nname: Shop\nlabels: {team: payments, tier: 1, empty: ''}\n"))
	if err != nil || d.Name != "Shop" || len(d.Labels) != 3 || d.Labels["team"] != "payments" || d.Labels["tier"] != "1" || d.Labels["empty"] != "" {
		t.Errorf("name %q, labels %v (%v)", d.Name, d.Labels, err)
	}
	if d, _ := ParseDefinition([]byte("id: a\n")); d.Labels == nil {
		t.Error("no labels: want an empty map")
	}
	d, err = ParseDefinition([]byte(`id: api
interval: 10s
http:
  url: https://bob:hunter2@api.example/v1?x=1
  headers: {Authorization: "Bearer s3cr3t", X-Api-Key: k3y, Accept: application/json}
  query: {access_token: t0k3n, page: "2"}
journey:
  steps:
  - name: one
    url: https://x/
    headers: {Cookie: "session=abc"}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d.Spec)
	for _, secret := range []string{"hunter2", "s3cr3t", "k3y", "t0k3n", "session=abc"} {
		if strings.Contains(string(b), secret) || strings.Contains(d.Target, secret) {
			t.Errorf("the definition shows %q: %s / %s", secret, b, d.Target)
		}
	}
	for _, kept := range []string{`"interval":"10s"`, `"Accept":"application/json"`, `"page":"2"`, `xxxxx@api.example`} {
		if !strings.Contains(string(b), kept) {
			t.Errorf("the definition lost %s: %s", kept, b)
		}
	}
	// Credentials in the URL's query, a token standing as the user name, a
	// body, a TCP payload: none is shown, in the definition or the target.
	d, err = ParseDefinition([]byte(`id: api
http:
  method: POST
  url: https://api.example.com/v1/ping?api_key=SUPERSECRET123&page=2
  proxy: http://TOKENASUSER@proxy:3128
  body: '{"password":"hunter2hunter2"}'
tcp:
  address: db:6379
  send: "AUTH s3cr3tpass\r\n"
  expect: "+OK"
`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(d.Spec)
	for _, secret := range []string{"SUPERSECRET123", "TOKENASUSER", "hunter2hunter2", "s3cr3tpass"} {
		if strings.Contains(string(b), secret) || strings.Contains(d.Target, secret) {
			t.Errorf("the definition shows %q: %s / %s", secret, b, d.Target)
		}
	}
	if want := "POST https://api.example.com/v1/ping?api_key=%5Bredacted%5D&page=2"; d.Target != want || !strings.Contains(string(b), `"body":"[redacted, 29 bytes]"`) {
		t.Errorf("target %q (want %q), definition %s", d.Target, want, b)
	}

	// What the prober writes unset is left out; false and 0 are kept.
	d, err = ParseDefinition([]byte("id: a\nname: ''\nretries: 0\nlabels: {}\nassertions: []\ntcp: null\nhttp:\n  url: https://x/\n  keep_alive: false\n  headers: {}\n  tls: null\n"))
	if b, _ := json.Marshal(d.Spec); err != nil || string(b) != `{"http":{"keep_alive":false,"url":"https://x/"},"id":"a","retries":0}` {
		t.Errorf("pruned definition %s (%v)", b, err)
	}
	for _, bad := range []string{"", "- a list\n", "{", "id: [\n"} {
		if _, err := ParseDefinition([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// A definition record comes from a Kafka topic anyone with access may
// write: whatever it holds, parsing neither panics nor lets a credential
// through, and the result encodes as JSON.
func FuzzParseDefinition(f *testing.F) {
	f.Add([]byte("id: a\nhttp:\n  url: https://u:p@x/\n  headers: {Authorization: x}\n"))
	f.Add([]byte("id: a\njourney:\n  steps: [{url: 1}, 2, null]\n"))
	f.Add([]byte("http: [1, 2]\ntcp: {address: [x]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("id: a\nretries: .nan\ntimeout: -.inf\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDefinition(b)
		if err != nil {
			return
		}
		if _, err := json.Marshal(d.Spec); err != nil {
			t.Fatalf("the definition of %q does not encode: %v", b, err)
		}
	})
}
