// Package configref generates docs/configuration.md, the reference of every
// configuration key of Picket's programs, from their config structs: the keys
// and defaults by reflection over each program's DefaultConfig(), the meanings
// from the fields' doc comments in the Go source. It only reads: it never
// loads a configuration, and it never prints a secret's default (a key whose
// name says password, secret or token shows its default only when empty).
package configref

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/services/aggregator"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/query"
)

// Placeholder stands for a map's key (a rule's, a destination's name) in
// the keys of the map's entries.
const Placeholder = "<name>"

// Program is one configured Picket program.
type Program struct {
	// Name is the table's heading.
	Name string
	// Intro says how the program is run and where its configuration goes.
	Intro string
	// Default is the program's DefaultConfig().
	Default any
}

// Programs are the programs the reference covers, in the order it lists them.
func Programs() []Program {
	return []Program{
		{"prober", "`services/prober` (`prober` binary): runs the checks and emits one result event per run.", prober.DefaultConfig()},
		{"aggregator", "`services/aggregator` (`aggregator` binary): results into ClickHouse, rollups, alert rules.", aggregator.DefaultConfig()},
		{"notifier", "`services/notifier` (`notifier` binary): alert events to the destinations.", notifier.DefaultConfig()},
		{"query", "`services/query` (`query` binary): the HTTP API and dashboard.", query.DefaultConfig()},
		{"picket dev", "`cli/devstack` (`picket dev`, builds with `-tags embedded`): the whole pipeline in one process.", devstack.DefaultConfig()},
	}
}

// Row is one key of a program's configuration.
type Row struct {
	// Key is the key as --set, YAML and (upper-cased) PICKET_ variables
	// spell it; Placeholder stands for a map key, "[]" for a list item.
	Key string
	// Type is the kind of value, as a user writes it.
	Type string
	// Default is the default shown ("" when there is none: a list item's or
	// a map entry's field without a default entry).
	Default string
	// Meaning is the field's doc comment, on one line.
	Meaning string
	// Leaf is true for keys that take a value (not sections, maps, lists of
	// sections).
	Leaf bool
	// SetValue is a value the key takes, as --set would give it (the default
	// where there is one).
	SetValue string
	// GoType is the field's type.
	GoType reflect.Type
}

// Generator walks config values and reads their doc comments.
type Generator struct {
	// modules maps a module path to its directory.
	modules map[string]string
	// docs caches the field docs by package path and type name.
	docs map[string]map[string]*typeDoc
}

// typeDoc is a struct type's doc comment and its fields' doc comments.
type typeDoc struct {
	doc    string
	fields map[string]string
	// keys maps the Go names of the fields to their koanf keys.
	keys map[string]string
}

// NewGenerator reads the modules of the go.work in root.
func NewGenerator(root string) (*Generator, error) {
	mods, err := workModules(root)
	if err != nil {
		return nil, err
	}
	return &Generator{modules: mods, docs: map[string]map[string]*typeDoc{}}, nil
}

// FindRoot walks up from dir to the directory holding go.work.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("configref: no go.work in %s or above", dir)
		}
		d = parent
	}
}

// workModules maps the module path of every module go.work uses to its directory.
func workModules(root string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, fmt.Errorf("configref: %w", err)
	}
	var dirs []string
	inUse := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "use (":
			inUse = true
		case inUse && line == ")":
			inUse = false
		case inUse && line != "":
			dirs = append(dirs, line)
		case strings.HasPrefix(line, "use "):
			dirs = append(dirs, strings.TrimSpace(strings.TrimPrefix(line, "use ")))
		}
	}
	mods := map[string]string{}
	for _, d := range dirs {
		dir := filepath.Join(root, d)
		gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			return nil, fmt.Errorf("configref: go.work uses %s: %w", d, err)
		}
		for l := range strings.SplitSeq(string(gomod), "\n") {
			if p, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
				mods[strings.TrimSpace(p)] = dir
				break
			}
		}
	}
	return mods, nil
}

// packageDir is the directory of the package with import path pkg.
func (g *Generator) packageDir(pkg string) (string, error) {
	best := ""
	for mod := range g.modules {
		if (pkg == mod || strings.HasPrefix(pkg, mod+"/")) && len(mod) > len(best) {
			best = mod
		}
	}
	if best == "" {
		return "", fmt.Errorf("configref: package %s is in no module of go.work", pkg)
	}
	return filepath.Join(g.modules[best], filepath.FromSlash(strings.TrimPrefix(pkg, best))), nil
}

// typeDocs returns the doc comments of the struct types of package pkg.
func (g *Generator) typeDocs(pkg string) (map[string]*typeDoc, error) {
	if d, ok := g.docs[pkg]; ok {
		return d, nil
	}
	dir, err := g.packageDir(pkg)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("configref: package %s: %w", pkg, err)
	}
	fset := token.NewFileSet()
	out := map[string]*typeDoc{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("configref: %w", err)
		}
		if strings.HasSuffix(f.Name.Name, "_test") {
			// An external test package's types are not the package's.
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				out[ts.Name.Name] = &typeDoc{doc: oneLine(doc), fields: fieldDocs(st), keys: fieldKeys(st)}
			}
		}
	}
	g.docs[pkg] = out
	return out, nil
}

// fieldDocs returns each field's doc comment (or line comment). A field
// without one takes the comment of the documented field before it when that
// comment names it ("BackoffInitial and BackoffMax bound …").
func fieldDocs(st *ast.StructType) map[string]string {
	out := map[string]string{}
	last := ""
	for _, f := range st.Fields.List {
		doc := oneLine(f.Doc)
		if doc == "" {
			doc = oneLine(f.Comment)
		}
		for _, n := range f.Names {
			switch {
			case doc != "":
				out[n.Name] = doc
			case last != "" && mentions(last, n.Name):
				out[n.Name] = last
			}
		}
		if doc != "" {
			last = doc
		}
	}
	return out
}

// fieldKeys maps the Go name of each field of st to its koanf key.
func fieldKeys(st *ast.StructType) map[string]string {
	out := map[string]string{}
	for _, f := range st.Fields.List {
		if f.Tag == nil {
			continue
		}
		tag, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			continue
		}
		key, _, _ := strings.Cut(reflect.StructTag(tag).Get("koanf"), ",")
		for _, n := range f.Names {
			switch {
			case key == "-":
			case key == "":
				out[n.Name] = strings.ToLower(n.Name)
			default:
				out[n.Name] = key
			}
		}
	}
	return out
}

// keyNames writes the Go field names of more than one word in doc as the
// keys a user sets ("GroupWait is how long" → "`group_wait` is how long"),
// outside code spans.
func keyNames(doc string, keys map[string]string) string {
	parts := strings.Split(doc, "`")
	for i := 0; i < len(parts); i += 2 {
		var b strings.Builder
		word := 0
		flush := func(end int) {
			w := parts[i][word:end]
			// A one-word name stays: "Kafka" is also the broker, "ClickHouse" the server.
			if k, ok := keys[w]; ok && k != strings.ToLower(w) {
				w = "`" + k + "`"
			}
			b.WriteString(w)
		}
		for j, r := range parts[i] {
			if !isIdent(r) {
				flush(j)
				b.WriteRune(r)
				word = j + utf8.RuneLen(r)
			}
		}
		flush(len(parts[i]))
		parts[i] = b.String()
	}
	return strings.Join(parts, "`")
}

func isIdent(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// mentions reports whether doc names the Go identifier name as a word.
func mentions(doc, name string) bool {
	for w := range strings.FieldsFuncSeq(doc, func(r rune) bool { return !isIdent(r) }) {
		if w == name {
			return true
		}
	}
	return false
}

// oneLine is a comment's text on one line.
func oneLine(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	return strings.Join(strings.Fields(c.Text()), " ")
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// Rows walks def, a config struct value, into its keys in field order (map
// entries sorted by key).
func (g *Generator) Rows(def any) ([]Row, error) {
	var rows []Row
	v := reflect.ValueOf(def)
	if err := g.walkStruct(&rows, "", v.Type(), v); err != nil {
		return nil, err
	}
	return rows, nil
}

// walkStruct adds the keys of struct type t under prefix; v is its default
// or invalid when there is none (a list item, a map entry's shape).
func (g *Generator) walkStruct(rows *[]Row, prefix string, t reflect.Type, v reflect.Value) error {
	docs, err := g.typeDocs(t.PkgPath())
	if err != nil {
		return err
	}
	td := docs[t.Name()]
	if td == nil {
		return fmt.Errorf("configref: no struct type %s in the source of %s", t.Name(), t.PkgPath())
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		meaning := keyNames(td.fields[f.Name], td.keys)
		if err := g.walkValue(rows, prefix+name, f.Type, fv, meaning); err != nil {
			return err
		}
	}
	return nil
}

// walkValue adds key, of type t with default v (invalid: none), and the
// keys under it.
func (g *Generator) walkValue(rows *[]Row, key string, t reflect.Type, v reflect.Value, meaning string) error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsValid() {
			if v.IsNil() {
				v = reflect.Value{}
			} else {
				v = v.Elem()
			}
		}
	}
	if meaning == "" {
		meaning = g.containerDoc(key, t)
	}
	switch {
	case t.Kind() == reflect.Struct && t != timeType:
		*rows = append(*rows, Row{Key: key, Type: "section", Meaning: meaning, GoType: t})
		return g.walkStruct(rows, key+".", t, v)
	case t.Kind() == reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("configref: %s: map keys of %s are not strings", key, t.Key())
		}
		var names []string
		if v.IsValid() {
			for _, k := range v.MapKeys() {
				names = append(names, k.String())
			}
		}
		sort.Strings(names)
		def := "none"
		if len(names) > 0 {
			def = strings.Join(names, ", ")
		}
		*rows = append(*rows, Row{Key: key, Type: "map", Default: def, Meaning: meaning, GoType: t})
		elem := t.Elem()
		if err := g.walkElem(rows, key+"."+Placeholder, elem, reflect.Value{}); err != nil {
			return err
		}
		for _, n := range names {
			if err := g.walkElem(rows, key+"."+n, elem, v.MapIndex(reflect.ValueOf(n).Convert(t.Key()))); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice && isStruct(t.Elem()):
		def := "none"
		if v.IsValid() && v.Len() > 0 {
			def = fmt.Sprintf("%d items", v.Len())
			if v.Len() == 1 {
				def = "1 item"
			}
		}
		*rows = append(*rows, Row{Key: key, Type: "list", Default: def, Meaning: meaning, GoType: t})
		// The items' fields: a list item has no default of its own.
		return g.walkElem(rows, key+"[]", t.Elem(), reflect.Value{})
	}
	typ, err := typeName(t)
	if err != nil {
		return fmt.Errorf("configref: %s: %w", key, err)
	}
	r := Row{Key: key, Type: typ, Meaning: meaning, Leaf: true, GoType: t, SetValue: exampleValue(t)}
	if v.IsValid() {
		r.SetValue = formatValue(v)
		r.Default = r.SetValue
		if r.Default == "" {
			r.Default = `""`
			if t.Kind() == reflect.Slice {
				r.Default = "[]"
			}
		} else if isSecret(key) {
			r.Default = "(set, not shown)"
		}
	}
	*rows = append(*rows, r)
	return nil
}

// containerDoc is, for a section, a map or a list of sections, the doc
// comment of its struct type: the meaning of a field documented only there.
// Its leading type name becomes the key: "`webhooks[]` is one generic JSON
// webhook".
func (g *Generator) containerDoc(key string, t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map:
		t, key = t.Elem(), key+"."+Placeholder
	case reflect.Slice:
		t, key = t.Elem(), key+"[]"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !isStruct(t) || t.Name() == "" {
		return ""
	}
	docs, err := g.typeDocs(t.PkgPath())
	if err != nil || docs[t.Name()] == nil {
		return ""
	}
	doc := docs[t.Name()].doc
	if rest, ok := strings.CutPrefix(doc, t.Name()+" "); ok {
		doc = "`" + key + "` " + rest
	}
	return doc
}

// walkElem adds the keys of a map entry or list item at key.
func (g *Generator) walkElem(rows *[]Row, key string, t reflect.Type, v reflect.Value) error {
	base := t
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	if isStruct(base) {
		if v.IsValid() && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v = reflect.Value{}
			} else {
				v = v.Elem()
			}
		}
		return g.walkStruct(rows, key+".", base, v)
	}
	return g.walkValue(rows, key, t, v, "")
}

func isStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != timeType
}

// isSecret reports whether key's last part names a secret.
func isSecret(key string) bool {
	last := strings.ToLower(key[strings.LastIndexAny(key, ".]")+1:])
	return strings.Contains(last, "password") || strings.Contains(last, "secret") || strings.Contains(last, "token")
}

// typeName is how the reference names a leaf's type.
func typeName(t reflect.Type) (string, error) {
	switch {
	case t == durationType:
		return "duration", nil
	case t == timeType:
		return "time (RFC 3339)", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "bool", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", nil
	case reflect.Float32, reflect.Float64:
		return "number", nil
	case reflect.Slice:
		e, err := typeName(t.Elem())
		if err != nil {
			return "", err
		}
		return "list of " + e, nil
	}
	return "", fmt.Errorf("type %s is not a configuration value", t)
}

// formatValue is v as --set takes it: durations as Go duration strings,
// lists comma-separated.
func formatValue(v reflect.Value) string {
	t := v.Type()
	switch {
	case t == durationType:
		return time.Duration(v.Int()).String()
	case t == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			return ""
		}
		return tm.Format(time.RFC3339)
	}
	switch t.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, t.Bits())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// exampleValue is a value a key of type t takes, for a key without a
// default (a list item's, a map entry's).
func exampleValue(t reflect.Type) string {
	if t == timeType {
		return "2026-01-01T00:00:00Z"
	}
	return formatValue(reflect.Zero(t))
}

// Render is docs/configuration.md.
func (g *Generator) Render() ([]byte, error) {
	var b bytes.Buffer
	header := strings.ReplaceAll(`# Configuration reference

<!-- Generated by cli/internal/configref from the config structs and their doc comments; do not edit.
     Regenerate with: make config-docs -->

Every Picket program reads its configuration in this order, each overriding the one before: the defaults below, a YAML
file (~--config file.yaml~), environment variables, ~--set key=value~ flags (repeatable). An unknown key is an error.

- **YAML**: the key's parts are nested mappings: ~alerting.rules.availability.window~ is
  ~alerting: {rules: {availability: {window: 5m}}}~; ~destinations[].url~ is the ~url~ of an item of the
  ~destinations~ list.
- **Environment**: ~PICKET_~ + the key upper-cased, with ~.~ written ~__~: ~kafka.results_topic~ is
  ~PICKET_KAFKA__RESULTS_TOPIC~. A variable of a shared section (SHARED) is ignored by a program without that
  section.
- **~--set~**: the key as written here, ~--set alerting.rules.availability.window=30s~. Lists take comma-separated
  values (~--set kafka.brokers=a:9092,b:9092~); list items (~[]~) are set in YAML.
- ~<name>~ stands for a map's key (a rule's or a destination's name): the rows below it are the fields of one entry.
  Default entries are listed under their own names.
- Durations are Go durations (~250ms~, ~30s~, ~1m0s~, ~1h~). Defaults of secret keys are never shown.

The CLI commands (package main in cli/cmd/picket) read shared sections only: ~picket apply~ the kafka section,
~picket migrate~ and ~picket backtest~ the clickhouse section, ~picket replay~ the kafka, clickhouse and log sections,
with the keys and defaults of the services' sections of those names (the kafka keys are in the prober's table, the
clickhouse keys in the aggregator's); their other options are flags (~picket <command> -h~).
`, "~", "`")
	b.WriteString(strings.Replace(header, "SHARED", sharedSections(), 1))
	for _, p := range Programs() {
		rows, err := g.Rows(p.Default)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", p.Name, p.Intro)
		for _, r := range rows {
			def := ""
			if r.Default != "" {
				def = "`" + r.Default + "`"
				if !r.Leaf {
					def = r.Default
				}
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.Key, r.Type, cell(def), cell(r.Meaning))
		}
	}
	return b.Bytes(), nil
}

func sharedSections() string {
	s := slices.Clone(config.SharedSections)
	for i := range s {
		s[i] = "`" + s[i] + "`"
	}
	return strings.Join(s, ", ")
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
