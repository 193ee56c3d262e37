package api

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Definition is a check's definition as last published (the checks topic,
// written by `picket apply`), for the check list's target and the check
// page: the check as written, with what may be a secret redacted.
type Definition struct {
	// Target is what the check probes, in one line: "GET https://…",
	// "tcp db:5432", "dns A example.com @1.1.1.1", "tls host:443", or a
	// journey's steps.
	Target string
	// Spec is the definition, redacted, as JSON-able values.
	Spec map[string]any
	// Name and Labels are the check's, as defined (Labels never nil).
	Name   string
	Labels map[string]string
}

// Definitions are the checks' definitions by id.
type Definitions interface {
	Definition(checkID string) (Definition, bool)
}

// DefinitionLister is Definitions that can also list them: label selectors
// (SLOs, status pages) find through it the checks defined with their labels
// that sent no result in the raw rows' 30 days.
type DefinitionLister interface {
	Definitions
	// EachDefinition calls f with every definition known, once per check id;
	// f must not call back into the lister.
	EachDefinition(f func(checkID string, d Definition))
}

// DefinitionMap is a fixed set of definitions (a dev stack's checks file).
type DefinitionMap map[string]Definition

// Definition implements Definitions.
func (m DefinitionMap) Definition(id string) (Definition, bool) {
	d, ok := m[id]
	return d, ok
}

// EachDefinition implements DefinitionLister.
func (m DefinitionMap) EachDefinition(f func(string, Definition)) {
	for id, d := range m {
		f(id, d)
	}
}

// FirstOf asks each of ds in turn.
type FirstOf []Definitions

// Definition implements Definitions.
func (f FirstOf) Definition(id string) (Definition, bool) {
	for _, d := range f {
		if def, ok := d.Definition(id); ok {
			return def, true
		}
	}
	return Definition{}, false
}

// EachDefinition implements DefinitionLister: each id's definition is the
// first source's that has it, as Definition answers; sources that cannot
// list are skipped.
func (f FirstOf) EachDefinition(fn func(string, Definition)) {
	seen := map[string]bool{}
	for _, d := range f {
		if l, ok := d.(DefinitionLister); ok {
			l.EachDefinition(func(id string, def Definition) {
				if !seen[id] {
					seen[id] = true
					fn(id, def)
				}
			})
		}
	}
}

// definedChecks are the definitions the API can list, by check id (none
// without a DefinitionLister).
func (a *API) definedChecks() map[string]Definition {
	out := map[string]Definition{}
	if l, ok := a.defs.(DefinitionLister); ok {
		l.EachDefinition(func(id string, d Definition) { out[id] = d })
	}
	return out
}

// SetDefinitions makes the check list show each check's target and the
// check endpoint its definition.
func (a *API) SetDefinitions(d Definitions) { a.defs = d }

// describe sets the target of every check of cs whose definition is known;
// with spec, its definition too.
func (a *API) describe(cs []CheckJSON, spec bool) {
	if a.defs == nil {
		return
	}
	for i := range cs {
		if d, ok := a.defs.Definition(cs[i].ID); ok {
			cs[i].Target = d.Target
			if spec {
				cs[i].Definition = d.Spec
			}
		}
	}
}

// secretName matches the names of headers and query parameters whose values
// are not shown: credentials travel in them.
var secretName = regexp.MustCompile(`(?i)(auth|cookie|token|secret|key|passw|session|signature|credential)`)

const redacted = "[redacted]"

// ParseDefinition reads a definition record (YAML, as the prober's
// check.MarshalDefinition writes it).
func ParseDefinition(value []byte) (Definition, error) {
	var doc any
	if err := yaml.Unmarshal(value, &doc); err != nil {
		return Definition{}, fmt.Errorf("check definition: %w", err)
	}
	spec, ok := jsonable(doc).(map[string]any)
	if !ok {
		return Definition{}, fmt.Errorf("check definition: not a mapping")
	}
	d := Definition{Labels: map[string]string{}}
	d.Name, _ = spec["name"].(string)
	if ls, ok := spec["labels"].(map[string]any); ok {
		for k, v := range ls {
			d.Labels[k] = fmt.Sprint(v)
		}
	}
	redact(spec)
	prune(spec)
	d.Target, d.Spec = target(spec), spec
	return d, nil
}

// jsonable is v as JSON can encode it: every mapping keyed by strings (YAML
// allows 1: x) and no NaN or infinity.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = jsonable(x)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range v {
			v[i] = jsonable(x)
		}
		return v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v) // .nan, .inf: JSON has no such numbers
		}
	}
	return v
}

// prune drops the keys a definition leaves unset (null, "", an empty list or
// mapping), as the prober writes every field: what is left is what the
// check says. It reports whether v is itself empty.
func prune(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case map[string]any:
		for k, x := range v {
			if prune(x) {
				delete(v, k)
			}
		}
		return len(v) == 0
	case []any:
		for _, x := range v {
			prune(x)
		}
		return len(v) == 0
	}
	return false
}

// redact replaces, wherever they appear, the values of headers and query
// parameters named like credentials, and the password of a URL.
func redact(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch k {
			case "headers", "query":
				if m, ok := x.(map[string]any); ok {
					for name := range m {
						if secretName.MatchString(name) {
							m[name] = redacted
						}
					}
				}
			case "url", "proxy":
				if s, ok := x.(string); ok {
					v[k] = redactURL(s)
				}
			case "body", "send", "expect":
				// A request body or a TCP payload may carry anything (a login).
				if s, ok := x.(string); ok && s != "" {
					v[k] = fmt.Sprintf("[redacted, %d bytes]", len(s))
				}
			default:
				redact(x)
			}
		}
	case []any:
		for _, x := range v {
			redact(x)
		}
	}
}

// redactURL hides a URL's user information (a token may stand as the user
// name) and the values of its query parameters named like credentials. A
// URL that does not parse is hidden whole: what it holds cannot be told.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return redacted
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = redacted
		} else {
			for name := range q {
				if secretName.MatchString(name) {
					q[name] = []string{redacted}
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// target is the one line saying what spec probes.
func target(spec map[string]any) string {
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	sub := func(k string) map[string]any {
		m, _ := spec[k].(map[string]any)
		return m
	}
	if h := sub("http"); h != nil {
		return strings.TrimSpace(strings.ToUpper(str(h, "method")) + " " + str(h, "url"))
	}
	if t := sub("tcp"); t != nil {
		return "tcp " + str(t, "address")
	}
	if d := sub("dns"); d != nil {
		s := "dns " + strings.TrimSpace(str(d, "type")+" "+str(d, "name"))
		if srv := str(d, "server"); srv != "" {
			s += " @" + srv
		}
		return s
	}
	if t := sub("tls"); t != nil {
		return "tls " + str(t, "address")
	}
	if j := sub("journey"); j != nil {
		steps, _ := j["steps"].([]any)
		if len(steps) == 0 {
			return "journey"
		}
		first, _ := steps[0].(map[string]any)
		return fmt.Sprintf("journey of %d steps from %s", len(steps), strings.TrimSpace(strings.ToUpper(str(first, "method"))+" "+str(first, "url")))
	}
	return ""
}
