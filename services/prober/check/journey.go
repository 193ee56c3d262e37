package check

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/picket-dev/picket/services/prober/assert"
)

// Journey is a scripted user journey: HTTP steps run in order, sharing
// variables that earlier steps extract from their responses. The result says
// which step failed and why, with each step's timings.
type Journey struct {
	Steps []Step `yaml:"steps"`
}

// Step is one request of a journey. Its URL, header values and body may use
// ${name} for a variable extracted by an earlier step.
type Step struct {
	Name       string             `yaml:"name"`
	HTTP       HTTP               `yaml:",inline"`
	Extract    map[string]Extract `yaml:"extract"`
	Assertions []assert.Assertion `yaml:"assertions"`
}

// Extract takes one value from a response: a JSON path into the body, a
// header, or a regular expression's first group over the header (when set) or
// the body.
type Extract struct {
	JSON   string `yaml:"json"`
	Header string `yaml:"header"`
	Regex  string `yaml:"regex"`

	path assert.Path
	re   *regexp.Regexp
}

// Value extracts from a response.
func (e *Extract) Value(header http.Header, body []byte) (string, error) {
	switch {
	case e.JSON != "":
		v, err := e.path.Find(body)
		if err != nil {
			return "", err
		}
		if s, ok := v.(string); ok {
			return s, nil
		}
		return fmt.Sprint(v), nil
	case e.Header != "":
		v := header.Get(e.Header)
		if v == "" {
			return "", fmt.Errorf("header %s missing", e.Header)
		}
		if e.re == nil {
			return v, nil
		}
		m := e.re.FindStringSubmatch(v)
		if m == nil {
			return "", fmt.Errorf("header %s %q does not match %q", e.Header, v, e.Regex)
		}
		return m[len(m)-1], nil
	}
	m := e.re.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("body does not match %q", e.Regex)
	}
	return string(m[len(m)-1]), nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Expand replaces ${name} with vars[name].
func Expand(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		return vars[ref[2:len(ref)-1]]
	})
}

func (j *Journey) applyDefaults(hasStatusAssertion func([]assert.Assertion) bool) {
	for i := range j.Steps {
		st := &j.Steps[i]
		h := &st.HTTP
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		h.Method = strings.ToUpper(h.Method)
		if len(h.ExpectedStatus) == 0 && !hasStatusAssertion(st.Assertions) {
			h.ExpectedStatus = []int{http.StatusOK}
		}
	}
}

// validate checks every step without reading anything; errors name
// journey.steps[i] and the field.
func (j *Journey) validate() error {
	if len(j.Steps) == 0 || len(j.Steps) > 20 {
		return fmt.Errorf("journey.steps: %d steps, want 1 to 20", len(j.Steps))
	}
	defined := map[string]int{}
	names := map[string]bool{}
	for i := range j.Steps {
		st := &j.Steps[i]
		key := fmt.Sprintf("journey.steps[%d]", i)
		if st.Name == "" {
			return fmt.Errorf("%s.name: required", key)
		}
		if names[st.Name] {
			return fmt.Errorf("%s.name: %q is used twice", key, st.Name)
		}
		names[st.Name] = true
		for _, field := range []string{"url", "body"} {
			text := st.HTTP.URL
			if field == "body" {
				text = st.HTTP.Body
			}
			if err := refsDefined(key+"."+field, text, defined); err != nil {
				return err
			}
		}
		for _, h := range slices.Sorted(maps.Keys(st.HTTP.Headers)) {
			if err := refsDefined(key+".headers."+h, st.HTTP.Headers[h], defined); err != nil {
				return err
			}
		}
		if err := st.HTTP.withVars().validate(key); err != nil {
			return err
		}
		for k, a := range st.Assertions {
			if err := a.Compile(); err != nil { // a copy: validate changes nothing
				return fmt.Errorf("%s.assertions[%d]: %w", key, k, err)
			}
		}
		if st.HTTP.hasStatus(st.Assertions) && len(st.HTTP.ExpectedStatus) > 0 {
			return fmt.Errorf("%s.expected_status: remove it, a status assertion judges the status", key)
		}
		for _, name := range slices.Sorted(maps.Keys(st.Extract)) {
			e := st.Extract[name]
			if !varRef.MatchString("${" + name + "}") {
				return fmt.Errorf("%s.extract.%s: a variable name is letters, digits and _", key, name)
			}
			if err := e.compile(); err != nil {
				return fmt.Errorf("%s.extract.%s: %w", key, name, err)
			}
			defined[name] = i
		}
	}
	return nil
}

// withVars is a copy of h whose URL has its variables filled in, for the
// checks that need a concrete URL.
func (h *HTTP) withVars() *HTTP {
	c := *h
	c.URL = varRef.ReplaceAllString(c.URL, "x")
	return &c
}

// compile prepares every step of a validated journey (see Check.Compile).
func (j *Journey) compile() error {
	for i := range j.Steps {
		st := &j.Steps[i]
		key := fmt.Sprintf("journey.steps[%d]", i)
		h := st.HTTP.withVars()
		if err := h.compile(key); err != nil {
			return err
		}
		st.HTTP.compiled = h.compiled // the copy shares h.TLS, and so its roots
		for k := range st.Assertions {
			if err := st.Assertions[k].Compile(); err != nil {
				return fmt.Errorf("%s.assertions[%d]: %w", key, k, err)
			}
		}
		for name, e := range st.Extract {
			if err := e.compile(); err != nil {
				return fmt.Errorf("%s.extract.%s: %w", key, name, err)
			}
			st.Extract[name] = e
		}
	}
	return nil
}

func (h *HTTP) hasStatus(as []assert.Assertion) bool {
	for i := range as {
		if as[i].IsStatus() {
			return true
		}
	}
	return false
}

func refsDefined(field, text string, defined map[string]int) error {
	for _, m := range varRef.FindAllStringSubmatch(text, -1) {
		if _, ok := defined[m[1]]; !ok {
			return fmt.Errorf("%s: ${%s} is not extracted by an earlier step", field, m[1])
		}
	}
	return nil
}

func (e *Extract) compile() error {
	n := 0
	for _, set := range []bool{e.JSON != "", e.Header != "", e.Regex != "" && e.Header == ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("want one of json, header (with an optional regex), regex")
	}
	if e.JSON != "" {
		p, err := assert.ParsePath(e.JSON)
		if err != nil {
			return fmt.Errorf("json: %w", err)
		}
		e.path = p
	}
	if e.Regex != "" {
		re, err := regexp.Compile(e.Regex)
		if err != nil {
			return fmt.Errorf("regex: %w", err)
		}
		e.re = re
	}
	return nil
}
