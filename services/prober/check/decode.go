package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes a YAML document into v (a pointer), refusing unknown
// fields. When the document does not fit v's types, the error names the
// field by its path as the semantic errors do ("checks[0] (api): interval:
// "5sec" is not a duration"), not by the YAML library's line and Go type.
func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		return err // a syntax error: the library's message names the line
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil {
		return err
	}
	w := walker{budget: maxWalkNodes}
	if ferr := w.walk(&doc, reflect.TypeOf(v).Elem(), nil); ferr != nil && !errors.Is(ferr, errBudget) {
		return fmt.Errorf("%s: %s", fieldPath(&doc, ferr.(*fieldError).path), ferr.(*fieldError).msg)
	}
	return err // the walk found nothing more precise to say
}

// maxWalkNodes bounds the walk: aliases can make a small document a huge tree.
const maxWalkNodes = 100_000

var errBudget = errors.New("document too large to explain")

type fieldError struct {
	path []any // string keys and int indexes
	msg  string
}

func (e *fieldError) Error() string { return e.msg }

// walker finds the first node of a document that does not fit a Go type.
type walker struct{ budget int }

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (w *walker) walk(n *yaml.Node, t reflect.Type, path []any) error {
	if w.budget--; w.budget < 0 {
		return errBudget
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return w.walk(n.Content[0], t, path)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return w.walk(n.Alias, t, path)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	fail := func(format string, args ...any) error {
		return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping of fields, got %s", describe(n))
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := once(seen, k, path); err != nil {
				return err
			}
			if k.ShortTag() == "!!merge" { // <<: *defaults fills the same fields
				if err := w.walk(v, t, path); err != nil {
					return err
				}
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				return &fieldError{path: with(path, k.Value), msg: "unknown field" + suggest(k.Value, fields)}
			}
			if err := w.walk(v, ft, with(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping, got %s", describe(n))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fail("want names as keys, got %s", describe(k))
			}
			if err := once(seen, k, path); err != nil {
				return err
			}
			if err := w.walk(v, t.Elem(), with(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list, got %s", describe(n))
		}
		for i, c := range n.Content {
			if err := w.walk(c, t.Elem(), with(path, i)); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return fail("want %s, got %s", typeName(t), describe(n))
		}
		if n.Decode(reflect.New(t).Interface()) != nil {
			return fail("%s is not %s", strconv.Quote(n.Value), typeName(t))
		}
	}
	return nil
}

// once refuses a key given twice in one mapping.
func once(seen map[string]int, k *yaml.Node, path []any) error {
	if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
		return nil
	}
	if line, dup := seen[k.Value]; dup {
		return &fieldError{path: with(path, k.Value), msg: fmt.Sprintf("given twice, on lines %d and %d", line, k.Line)}
	}
	seen[k.Value] = k.Line
	return nil
}

// with appends without sharing the caller's backing array.
func with(path []any, step any) []any {
	return append(slices.Clip(path), step)
}

// yamlFields maps a struct's YAML field names (inline structs included) to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (like 500ms, 30s or 1m)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr:
		return "a whole number of at least 0"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a single value"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

// suggest names the known field nearest to a misspelt one, if any is near.
func suggest(name string, fields map[string]reflect.Type) string {
	best, bestDist := "", 0
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		d := editDistance(name, f)
		near := d <= 2 || (len(name) >= 4 && strings.HasPrefix(f, name))
		if near && (best == "" || d < bestDist) {
			best, bestDist = f, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between two short names.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldPath writes a path as the semantic errors do: checks[2] (api).http.url
// becomes "checks[2] (api): http.url".
func fieldPath(doc *yaml.Node, path []any) string {
	var head string
	if len(path) >= 2 && path[0] == "checks" {
		if i, ok := path[1].(int); ok {
			head, path = checkName(i, checkID(doc, i)), path[2:]
		}
	}
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	switch {
	case head == "":
		return b.String()
	case b.Len() == 0:
		return head
	}
	return head + ": " + b.String()
}

// checkID is the id of the i-th check of a checks file's document, if it
// has a plain one.
func checkID(doc *yaml.Node, i int) string {
	checks := mappingValue(deref(doc), "checks")
	if checks == nil || checks.Kind != yaml.SequenceNode || i >= len(checks.Content) {
		return ""
	}
	if id := mappingValue(deref(checks.Content[i]), "id"); id != nil && id.Kind == yaml.ScalarNode {
		return id.Value
	}
	return ""
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}
