// Package assert evaluates a check's assertions against what one run saw.
// Every assertion is evaluated on every run; each outcome is reported, and
// the first failure explains the run's failure.
//
// Assertions are parsed and validated when the check file loads, so a run
// never meets a malformed one.
package assert

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Assertion is one line of a check's assertions: exactly one field is set.
// The fields are omitted when empty, so that an encoded assertion (a check
// definition) decodes with the one field it had: an encoded empty status
// list would make every other assertion two assertions.
type Assertion struct {
	// Status lists accepted codes: 200, "2xx", "200-204".
	Status []string `yaml:"status,omitempty"`
	// ResponseTime bounds the total time or one phase.
	ResponseTime *Timing `yaml:"response_time,omitempty"`
	Body         *Body   `yaml:"body,omitempty"`
	JSON         *JSON   `yaml:"json,omitempty"`
	Header       *Header `yaml:"header,omitempty"`
	// CertificateDaysLeft is the least number of days before the chain expires.
	CertificateDaysLeft *int `yaml:"certificate_days_left,omitempty"`

	status []statusRange
	regex  *regexp.Regexp
	path   []pathStep
}

// Timing bounds a duration.
type Timing struct {
	// Phase is total (default), dns, connect, tls, processing, transfer or ttfb.
	Phase string        `yaml:"phase"`
	Below time.Duration `yaml:"below"`
}

// Body checks the response body.
type Body struct {
	Contains string `yaml:"contains"`
	Matches  string `yaml:"matches"`
}

// JSON compares a value found by a JSON path like $.items[0].status.
type JSON struct {
	Path string `yaml:"path"`
	// Op is ==, !=, <, >, contains or exists.
	Op    string `yaml:"op"`
	Value any    `yaml:"value"`
}

// Header checks a response header.
type Header struct {
	Name    string `yaml:"name"`
	Equals  string `yaml:"equals"`
	Matches string `yaml:"matches"`
}

// phase is the phase bounded; "" means total. Compile leaves the field as
// written: it prepares, it never rewrites the check.
func (t *Timing) phase() string {
	if t.Phase == "" {
		return "total"
	}
	return t.Phase
}

// Phases a Timing may name.
var Phases = []string{"total", "dns", "connect", "tls", "processing", "transfer", "ttfb"}

type statusRange struct{ lo, hi int }

// Compile validates a and prepares it; the error names the field.
func (a *Assertion) Compile() error {
	set := 0
	for _, isSet := range []bool{a.Status != nil, a.ResponseTime != nil, a.Body != nil, a.JSON != nil, a.Header != nil, a.CertificateDaysLeft != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		return errors.New("want exactly one of status, response_time, body, json, header, certificate_days_left")
	}
	switch {
	case a.Status != nil:
		if len(a.Status) == 0 {
			return errors.New("status: list at least one code, class (2xx) or range (200-204)")
		}
		var ranges []statusRange
		for i, s := range a.Status {
			r, err := parseStatus(s)
			if err != nil {
				return fmt.Errorf("status[%d]: %w", i, err)
			}
			ranges = append(ranges, r)
		}
		a.status = ranges // a second Compile does not add them again
	case a.ResponseTime != nil:
		t := a.ResponseTime
		if !contains(Phases, t.phase()) {
			return fmt.Errorf("response_time.phase: %q is not one of %s", t.Phase, strings.Join(Phases, ", "))
		}
		if t.Below <= 0 {
			return fmt.Errorf("response_time.below: %s must be positive", t.Below)
		}
	case a.Body != nil:
		b := a.Body
		if (b.Contains == "") == (b.Matches == "") {
			return errors.New("body: want exactly one of contains, matches")
		}
		if b.Matches != "" {
			re, err := regexp.Compile(b.Matches)
			if err != nil {
				return fmt.Errorf("body.matches: %w", err)
			}
			a.regex = re
		}
	case a.JSON != nil:
		j := a.JSON
		p, err := parsePath(j.Path)
		if err != nil {
			return fmt.Errorf("json.path: %w", err)
		}
		a.path = p
		switch j.Op {
		case "==", "!=", "contains":
		case "<", ">":
			if _, ok := number(j.Value); !ok {
				return fmt.Errorf("json.value: %v: %s needs a number", j.Value, j.Op)
			}
		case "exists":
		default:
			return fmt.Errorf("json.op: %q is not one of ==, !=, <, >, contains, exists", j.Op)
		}
	case a.Header != nil:
		h := a.Header
		if h.Name == "" {
			return errors.New("header.name: required")
		}
		if (h.Equals == "") == (h.Matches == "") {
			return errors.New("header: want exactly one of equals, matches")
		}
		if h.Matches != "" {
			re, err := regexp.Compile(h.Matches)
			if err != nil {
				return fmt.Errorf("header.matches: %w", err)
			}
			a.regex = re
		}
	case a.CertificateDaysLeft != nil:
		if *a.CertificateDaysLeft < 0 {
			return fmt.Errorf("certificate_days_left: %d must not be negative", *a.CertificateDaysLeft)
		}
	}
	return nil
}

// IsStatus reports whether a is a status assertion.
func (a *Assertion) IsStatus() bool { return a.Status != nil }

func parseStatus(s string) (statusRange, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5' {
		lo := int(s[0]-'0') * 100
		return statusRange{lo, lo + 99}, nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return statusRange{}, fmt.Errorf("%q is not a range of HTTP statuses like 200-204", s)
		}
		return statusRange{l, h}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return statusRange{}, fmt.Errorf("%q is not an HTTP status, class (2xx) or range (200-204)", s)
	}
	return statusRange{n, n}, nil
}

// Observed is what a run saw, for assertions to judge.
type Observed struct {
	Status  int
	Header  http.Header
	Body    []byte
	Timings map[string]time.Duration // by phase name
	// CertNotAfter is zero without a TLS handshake.
	CertNotAfter time.Time
	Now          time.Time
}

// Outcome is one assertion's verdict.
type Outcome struct {
	Assertion string
	Passed    bool
	// Message explains a failure: "status 503, expected 2xx".
	Message string
}

// String describes the assertion: `json $.status == "UP"`.
func (a *Assertion) String() string {
	switch {
	case a.Status != nil:
		return "status " + strings.Join(a.Status, ", ")
	case a.ResponseTime != nil:
		return fmt.Sprintf("%s time below %s", a.ResponseTime.phase(), a.ResponseTime.Below)
	case a.Body != nil && a.Body.Contains != "":
		return fmt.Sprintf("body contains %q", a.Body.Contains)
	case a.Body != nil:
		return fmt.Sprintf("body matches %q", a.Body.Matches)
	case a.JSON != nil && a.JSON.Op == "exists":
		return fmt.Sprintf("json %s exists", a.JSON.Path)
	case a.JSON != nil:
		return fmt.Sprintf("json %s %s %s", a.JSON.Path, a.JSON.Op, show(a.JSON.Value))
	case a.Header != nil && a.Header.Equals != "":
		return fmt.Sprintf("header %s equals %q", a.Header.Name, a.Header.Equals)
	case a.Header != nil:
		return fmt.Sprintf("header %s matches %q", a.Header.Name, a.Header.Matches)
	case a.CertificateDaysLeft != nil:
		return fmt.Sprintf("certificate expires in more than %d days", *a.CertificateDaysLeft)
	}
	return "?"
}

// Check evaluates a compiled assertion.
func (a *Assertion) Check(o Observed) Outcome {
	out := Outcome{Assertion: a.String(), Passed: true}
	fail := func(format string, args ...any) Outcome {
		out.Passed, out.Message = false, fmt.Sprintf(format, args...)
		return out
	}
	switch {
	case a.Status != nil:
		for _, r := range a.status {
			if o.Status >= r.lo && o.Status <= r.hi {
				return out
			}
		}
		return fail("status %d, expected %s", o.Status, strings.Join(a.Status, " or "))
	case a.ResponseTime != nil:
		if d := o.Timings[a.ResponseTime.phase()]; d >= a.ResponseTime.Below {
			return fail("%s time %s, expected below %s", a.ResponseTime.phase(), d.Round(time.Microsecond), a.ResponseTime.Below)
		}
	case a.Body != nil && a.regex == nil:
		if !strings.Contains(string(o.Body), a.Body.Contains) {
			return fail("body does not contain %q", a.Body.Contains)
		}
	case a.Body != nil:
		if !a.regex.Match(o.Body) {
			return fail("body does not match %q", a.Body.Matches)
		}
	case a.JSON != nil:
		return a.checkJSON(o.Body, out)
	case a.Header != nil:
		v := o.Header.Get(a.Header.Name)
		if a.regex != nil && !a.regex.MatchString(v) {
			return fail("header %s is %q, expected to match %q", a.Header.Name, v, a.Header.Matches)
		}
		if a.regex == nil && v != a.Header.Equals {
			return fail("header %s is %q, expected %q", a.Header.Name, v, a.Header.Equals)
		}
	case a.CertificateDaysLeft != nil:
		if o.CertNotAfter.IsZero() {
			return fail("no certificate: the run did no TLS handshake")
		}
		days := int(o.CertNotAfter.Sub(o.Now) / (24 * time.Hour))
		if days <= *a.CertificateDaysLeft {
			return fail("certificate expires in %d days, expected more than %d", days, *a.CertificateDaysLeft)
		}
	}
	return out
}

func (a *Assertion) checkJSON(body []byte, out Outcome) Outcome {
	j := a.JSON
	fail := func(format string, args ...any) Outcome {
		out.Passed, out.Message = false, fmt.Sprintf(format, args...)
		return out
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fail("body is not JSON: %v", err)
	}
	got, ok := lookup(doc, a.path)
	if !ok {
		return fail("%s not found", j.Path)
	}
	switch j.Op {
	case "exists":
	case "==", "!=":
		if equal(got, j.Value) != (j.Op == "==") {
			want := show(j.Value)
			if j.Op == "!=" {
				want = "not " + want
			}
			return fail("%s == %s, expected %s", j.Path, show(got), want)
		}
	case "<", ">":
		g, ok := number(got)
		w, _ := number(j.Value)
		if !ok {
			return fail("%s is %s, not a number", j.Path, show(got))
		}
		if (j.Op == "<" && !(g < w)) || (j.Op == ">" && !(g > w)) {
			return fail("%s == %s, expected %s %s", j.Path, show(got), j.Op, show(j.Value))
		}
	case "contains":
		switch g := got.(type) {
		case string:
			if !strings.Contains(g, fmt.Sprint(j.Value)) {
				return fail("%s == %s, expected it to contain %s", j.Path, show(got), show(j.Value))
			}
		case []any:
			found := false
			for _, el := range g {
				found = found || equal(el, j.Value)
			}
			if !found {
				return fail("%s == %s, expected it to contain %s", j.Path, show(got), show(j.Value))
			}
		default:
			return fail("%s is %s: contains needs a string or an array", j.Path, show(got))
		}
	}
	return out
}

func equal(got, want any) bool {
	if g, ok := number(got); ok {
		w, ok := number(want)
		return ok && g == w
	}
	return fmt.Sprint(got) == fmt.Sprint(want) && (got == nil) == (want == nil)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type pathStep struct {
	key   string
	index int // -1 for a key step
}

// parsePath parses $.a.b[0].c.
func parsePath(p string) ([]pathStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("%q must start with $", p)
	}
	rest := p[1:]
	var steps []pathStep
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("%q has an empty key", p)
			}
			steps = append(steps, pathStep{key: rest[:end], index: -1})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%q has an unclosed [", p)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%q: index %q is not a whole number", p, rest[1:end])
			}
			steps = append(steps, pathStep{index: n})
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("%q: unexpected %q", p, rest[0])
		}
	}
	return steps, nil
}

func lookup(doc any, path []pathStep) (any, bool) {
	cur := doc
	for _, s := range path {
		if s.index < 0 {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[s.key]; !ok {
				return nil, false
			}
			continue
		}
		a, ok := cur.([]any)
		if !ok || s.index >= len(a) {
			return nil, false
		}
		cur = a[s.index]
	}
	return cur, true
}

// Path is a compiled JSON path like $.items[0].id.
type Path struct {
	src   string
	steps []pathStep
}

// ParsePath compiles a JSON path.
func ParsePath(p string) (Path, error) {
	steps, err := parsePath(p)
	return Path{src: p, steps: steps}, err
}

// Find returns the value at the path in a JSON document.
func (p Path) Find(body []byte) (any, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	v, ok := lookup(doc, p.steps)
	if !ok {
		return nil, fmt.Errorf("%s not found", p.src)
	}
	return v, nil
}
