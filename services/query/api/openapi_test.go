package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openapiDoc is the embedded document, parsed for the tests.
type openapiDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Parameters []json.RawMessage `json:"parameters"`
		Responses  map[string]struct {
			Content map[string]struct {
				Schema struct {
					Ref string `json:"$ref"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

var (
	specOnce    sync.Once
	spec        openapiDoc
	specSchemas = map[string]*jsonschema.Schema{}
	specErr     error
)

const specURL = "mem:///openapi.json"

// loadSpec parses the document and compiles each of its component schemas
// (JSON Schema 2020-12, as OpenAPI 3.1 has them), formats asserted.
func loadSpec(t testing.TB) openapiDoc {
	t.Helper()
	specOnce.Do(func() {
		if specErr = json.Unmarshal(openapi, &spec); specErr != nil {
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapi))
		if err != nil {
			specErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		if specErr = c.AddResource(specURL, doc); specErr != nil {
			return
		}
		for name := range spec.Components.Schemas {
			if specSchemas[name], specErr = c.Compile(specURL + "#/components/schemas/" + name); specErr != nil {
				return
			}
		}
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return spec
}

var pathParam = regexp.MustCompile(`\{[^/]+\}`)

// operationOf finds the documented path template that matches path, the
// most literal one first (/alerts/open before a parameter would take open).
func operationOf(doc openapiDoc, path string) (string, bool) {
	var templates []string
	for tmpl := range doc.Paths {
		templates = append(templates, tmpl)
	}
	sort.Slice(templates, func(i, j int) bool {
		return strings.Count(templates[i], "{") < strings.Count(templates[j], "{") ||
			strings.Count(templates[i], "{") == strings.Count(templates[j], "{") && templates[i] < templates[j]
	})
	for _, tmpl := range templates {
		re := regexp.MustCompile("^" + pathParam.ReplaceAllString(tmpl, `[^/]+`) + "$")
		if re.MatchString(path) {
			return tmpl, true
		}
	}
	return "", false
}

// validateResponse checks that a response of GET rawURL is documented: its
// route, its status and content type, and its body against the schema.
func validateResponse(t testing.TB, rawURL string, status int, contentType string, body []byte) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	validateAt(t, rawURL, u.EscapedPath(), status, contentType, body)
}

// validateAt is validateResponse for the (escaped) path of a request that
// rawURL names.
func validateAt(t testing.TB, rawURL, path string, status int, contentType string, body []byte) {
	t.Helper()
	doc := loadSpec(t)
	tmpl, ok := operationOf(doc, path)
	if !ok {
		if (status == http.StatusNotFound || status == http.StatusUnauthorized || status == http.StatusTooManyRequests) &&
			contentType == "application/problem+json" {
			// No such route (or refused before routing): still a problem document.
			validateBody(t, rawURL, "Problem", body)
			return
		}
		t.Errorf("GET %s: no documented path matches %s", rawURL, path)
		return
	}
	op, ok := doc.Paths[tmpl]["get"]
	if !ok {
		t.Errorf("GET %s: %s documents no GET", rawURL, tmpl)
		return
	}
	resp, ok := op.Responses[strconv.Itoa(status)]
	if !ok {
		t.Errorf("GET %s: status %d is not documented for %s", rawURL, status, tmpl)
		return
	}
	media, ok := resp.Content[strings.TrimSpace(strings.Split(contentType, ";")[0])]
	if !ok {
		t.Errorf("GET %s: content type %q is not documented for %s %d", rawURL, contentType, tmpl, status)
		return
	}
	if name, ok := strings.CutPrefix(media.Schema.Ref, "#/components/schemas/"); ok {
		validateBody(t, rawURL, name, body)
	}
}

func validateBody(t testing.TB, rawURL, schema string, body []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("GET %s: body is not JSON: %v", rawURL, err)
		return
	}
	if err := specSchemas[schema].Validate(inst); err != nil {
		t.Errorf("GET %s: body does not match %s: %v\n%s", rawURL, schema, err, body)
	}
}

// The document and the router describe the same routes: every route the
// router serves is documented, every documented operation is routed.
func TestOpenAPIDescribesTheRouter(t *testing.T) {
	doc := loadSpec(t)
	a := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	routes, ok := a.Handler().(chi.Routes)
	if !ok {
		t.Fatal("the handler is not a chi router")
	}
	routed := map[string]bool{}
	if err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+strings.TrimSuffix(route, "/*")] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("%s is routed but not in openapi.json", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("%s is in openapi.json but not routed", d)
		}
	}
	if len(routed) < 10 {
		t.Errorf("only %d routes walked: %v", len(routed), routed)
	}
}

// The document is served as it is embedded, and says it is OpenAPI 3.1.
func TestOpenAPIServed(t *testing.T) {
	srv, _ := newServer(t)
	resp, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var d openapiDoc
	if err := json.Unmarshal(body, &d); err != nil || d.OpenAPI != "3.1.0" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %v, %q, %s", err, d.OpenAPI, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openapi) {
		t.Error("served document differs from the embedded one")
	}
}

// Every operation documents the guard's refusals, which can answer any
// route: 401 (auth on, the route not public) and 429 with Retry-After.
func TestOpenAPIDocumentsRefusals(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]any `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if _, ok := op.Responses["401"].Headers["WWW-Authenticate"]; !ok {
				t.Errorf("%s %s: no 401 with WWW-Authenticate", method, path)
			}
			if _, ok := op.Responses["429"].Headers["Retry-After"]; !ok {
				t.Errorf("%s %s: no 429 with Retry-After", method, path)
			}
		}
	}
}
