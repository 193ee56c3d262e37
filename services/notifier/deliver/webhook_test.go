package deliver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The reference Standard Webhooks library verifies what the webhook sends,
// with either of two secrets during a rotation, and refuses a changed body.
func TestStandardWebhooksInterop(t *testing.T) {
	h := newHook(t)
	c := destination("webhook", h.srv.URL)
	s, err := Build("destinations[0]", c, Options{}) // real clock: Verify checks the timestamp
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []Notification{Single(recovery()), group()} {
		if err := send(t, s, n); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []string{"9f5b155564a4fc45a4ae077e6f68fbea", group().Key()} {
		body, hdr := h.bodies[i], h.headers[i]
		if hdr.Get("webhook-id") != want || hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: webhook-id %q, want %q", i, hdr.Get("webhook-id"), want)
		}
		if sigs := strings.Fields(hdr.Get("webhook-signature")); len(sigs) != 2 {
			t.Fatalf("request %d: %d signatures, want one per secret", i, len(sigs))
		}
		for _, secret := range []string{secrets[5], secrets[6]} {
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(body, hdr); err != nil {
				t.Errorf("request %d: reference verifier refuses: %v", i, err)
			}
			if err := wh.Verify(append(bytes.Clone(body), ' '), hdr); err == nil {
				t.Errorf("request %d: a changed body verifies", i)
			}
		}
		other, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("not the secret, not at all")))
		if err := other.Verify(body, hdr); err == nil {
			t.Errorf("request %d: verifies with another secret", i)
		}
	}
	// And the reference signer agrees byte for byte.
	wh, _ := standardwebhooks.NewWebhook(secrets[5])
	ref, err := wh.Sign("msg_1", time.Unix(1795000000, 0), []byte(`{"a":1}`))
	keys, _ := ParseSecrets(secrets[5])
	if err != nil || SignatureHeader("msg_1", 1795000000, []byte(`{"a":1}`), keys...) != ref {
		t.Fatalf("signature differs from the reference: %s (%v)", ref, err)
	}
}

// webhooks[] entries keep their headers (X-Picket-*) and their raw secret,
// and gain the standard ones.
func TestLegacyWebhookHeaders(t *testing.T) {
	h := newHook(t)
	w, err := LegacyWebhook("webhooks[0]", "ops", h.srv.URL, secrets[7], time.Second, Options{
		Safety: safedialAllowLoopback, Now: func() time.Time { return time.Unix(1795000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, w, Single(recovery())); err != nil {
		t.Fatal(err)
	}
	body, hdr := h.bodies[0], h.headers[0]
	if hdr.Get(HeaderEventID) != "9f5b155564a4fc45a4ae077e6f68fbea" || hdr.Get(HeaderTimestamp) != "1795000000" ||
		hdr.Get(HeaderSignature) != Sign([]byte(secrets[7]), "1795000000", body) {
		t.Fatalf("legacy headers %v", hdr)
	}
	raw, _ := standardwebhooks.NewWebhookRaw([]byte(secrets[7]))
	if err := raw.VerifyIgnoringTimestamp(body, hdr); err != nil {
		t.Fatalf("standard signature with the raw secret: %v", err)
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Message != recovery().Message || p.Text != recovery().Message {
		t.Fatalf("payload %s", body)
	}
}

func TestParseSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"s3cret":                   `secret 1 does not start with "whsec_"`,
		"whsec_%%%":                `secret 1 is not valid base64 after "whsec_"`,
		"whsec_c2hvcnQ=":           "secret 1 is 5 bytes; use at least 16",
		secrets[5] + " whsec_c2g=": "secret 2 is 2 bytes",
	} {
		if _, err := ParseSecrets(in); err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), in) {
			t.Errorf("%q: %v, want %s (without the value)", in, err, want)
		}
	}
	if k, err := ParseSecrets(" " + secrets[5] + "\n" + secrets[6] + " "); err != nil || len(k) != 2 {
		t.Fatalf("two secrets: %d, %v", len(k), err)
	}
}

// The generic webhook's golden samples validate against the published JSON
// Schema, and the schema declares every field they carry.
func TestPayloadSchema(t *testing.T) {
	schemaPath := filepath.Join("..", "..", "..", "schemas", "webhook", "payload.v1.schema.json")
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	comp.AssertFormat()
	if err := comp.AddResource("payload.v1.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := comp.Compile("payload.v1.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var decl struct {
		Properties map[string]any `json:"properties"`
		Defs       struct {
			Event struct {
				Properties map[string]any `json:"properties"`
			} `json:"event"`
		} `json:"$defs"`
	}
	json.Unmarshal(raw, &decl)
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "webhook-*.json"))
	if len(goldens) < 5 {
		t.Fatalf("%d webhook goldens", len(goldens))
	}
	for _, g := range goldens {
		b, _ := os.ReadFile(g)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s: %v", g, err)
		}
		var fields map[string]json.RawMessage
		json.Unmarshal(b, &fields)
		var undeclared []string
		for k := range fields {
			if decl.Properties[k] == nil && decl.Defs.Event.Properties[k] == nil {
				undeclared = append(undeclared, k)
			}
		}
		sort.Strings(undeclared)
		if len(undeclared) > 0 {
			t.Errorf("%s: fields missing from the schema: %v", g, undeclared)
		}
	}
	// The schema refuses what it must: a wrong state, a missing field.
	for _, bad := range []string{
		`{"version":1,"state":"broken"}`,
		strings.Replace(mustRead(t, filepath.Join("testdata", "golden", "webhook-up.json")), `"state": "up"`, `"state": "on fire"`, 1),
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.Validate(v) == nil {
			t.Errorf("schema accepts %.80s", bad)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnsignedWithoutSecret(t *testing.T) {
	h := newHook(t)
	c := destination("webhook", h.srv.URL)
	c.Secret = ""
	if err := send(t, build(t, c), Single(recovery())); err != nil {
		t.Fatal(err)
	}
	if h.headers[0].Get("webhook-signature") != "" || h.headers[0].Get("webhook-id") == "" || h.headers[0].Get(HeaderSignature) != "" {
		t.Fatalf("headers %v", h.headers[0])
	}
}
