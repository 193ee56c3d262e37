package configref

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/picket-dev/picket/platform/config"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

func generator(t *testing.T) (*Generator, string) {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(root)
	if err != nil {
		t.Fatal(err)
	}
	return g, root
}

// TestConfigurationReferenceIsCurrent fails when docs/configuration.md is
// not what the config structs generate: a key, default or doc comment
// changed without regenerating it.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	g, root := generator(t)
	got, err := g.Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "configuration.md")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run make config-docs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/configuration.md is out of date (run make config-docs); first difference:\n%s", firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line where the committed and generated files differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + wl + "\n  generated: " + gl
		}
	}
	return "(trailing bytes)"
}

// decodeProblems are what the loader says when a value does not fit its
// key (as opposed to a valid key whose entry is incomplete).
var decodeProblems = []string{"unknown key", "expected type", "cannot parse", "unconvertible", "invalid duration", "--set"}

// TestEveryListedKeyIsAccepted loads every leaf key of the reference through
// the real loader (--set key=default and its PICKET_ variable for keys
// outside lists, a YAML file for list items), so the reference cannot name a
// key the programs refuse. A key in a map entry or list item may leave that
// entry incomplete (a rule without its kind): only a refusal of the key or
// its value fails.
func TestEveryListedKeyIsAccepted(t *testing.T) {
	g, _ := generator(t)
	for _, p := range Programs() {
		rows, err := g.Rows(p.Default)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < 5 {
			t.Fatalf("%s: only %d keys", p.Name, len(rows))
		}
		for _, r := range rows {
			if !r.Leaf {
				continue
			}
			t.Run(p.Name+"/"+r.Key, func(t *testing.T) {
				key := strings.ReplaceAll(r.Key, Placeholder, "example")
				var src config.Source
				if strings.Contains(key, "[]") {
					src.File = filepath.Join(t.TempDir(), "c.yaml")
					b, err := yaml.Marshal(nested(key, yamlValue(r)))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(src.File, b, 0o644); err != nil {
						t.Fatal(err)
					}
				} else {
					src.Sets = []string{key + "=" + r.SetValue}
				}
				if key == r.Key && !strings.Contains(key, "[]") {
					// A key with its own default set to it leaves the default
					// configuration, which is valid; so does its variable.
					if err := load(p.Default, src); err != nil {
						t.Fatalf("--set %s=%q: %v", key, r.SetValue, err)
					}
					env := config.EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__")) + "=" + r.SetValue
					if err := load(p.Default, config.Source{Environ: []string{env}}); err != nil {
						t.Fatalf("%s: %v", env, err)
					}
					return
				}
				err := load(p.Default, src)
				if err == nil {
					return
				}
				for _, bad := range decodeProblems {
					if strings.Contains(err.Error(), bad) {
						t.Fatalf("%s=%q: %v", key, r.SetValue, err)
					}
				}
			})
		}
	}
}

// TestAnUnknownKeyIsRefused shows the check above can fail.
func TestAnUnknownKeyIsRefused(t *testing.T) {
	for _, p := range Programs() {
		err := load(p.Default, config.Source{Sets: []string{"no_such_section.key=1"}})
		if err == nil || !strings.Contains(err.Error(), "unknown key") {
			t.Errorf("%s: an unknown key gave %v", p.Name, err)
		}
	}
}

// load loads src into a new value of def's type, def being the defaults.
func load(def any, src config.Source) error {
	dst := reflect.New(reflect.TypeOf(def))
	return config.Load(dst.Interface(), def, src)
}

// nested is the YAML document setting key (a.b[].c) to v.
func nested(key string, v any) any {
	head, rest, more := strings.Cut(key, ".")
	name, isList := strings.CutSuffix(head, "[]")
	var inner any = v
	if more {
		inner = nested(rest, v)
	}
	if isList {
		inner = []any{inner}
	}
	return map[string]any{name: inner}
}

// yamlValue is r's value as YAML writes it: lists as lists.
func yamlValue(r Row) any {
	if r.GoType.Kind() == reflect.Slice {
		if r.SetValue == "" {
			return []any{}
		}
		return strings.Split(r.SetValue, ",")
	}
	return r.SetValue
}

// fixture is a configuration with every shape the reference handles.
type fixture struct {
	// Name is the fixture's name.
	Name string `koanf:"name"`
	// Wait is how long it waits.
	Wait time.Duration `koanf:"wait"`
	// APIToken authenticates; its default is never shown.
	APIToken string `koanf:"api_token"`
	// EmptySecret shows that an empty secret is shown as empty.
	EmptySecret string  `koanf:"empty_secret"`
	Inner       inner   `koanf:"inner"`
	Items       []inner `koanf:"items"`
	// Rules by name.
	Rules map[string]inner `koanf:"rules"`
	// Tags are labels.
	Tags  []string `koanf:"tags"`
	Lower int      `koanf:""`
}

// inner is a nested section.
type inner struct {
	// Low and High bound it.
	Low  int     `koanf:"low"`
	High float64 `koanf:"high"`
	// Flag is a switch.
	Flag *bool `koanf:"flag"`
}

func TestRowsOfEveryShape(t *testing.T) {
	g, _ := generator(t)
	on := true
	rows, err := g.Rows(fixture{
		Name: "n", Wait: 90 * time.Second, APIToken: "s3cr3t", Inner: inner{Low: 1, High: 2.5, Flag: &on},
		Items: []inner{{Low: 7}}, Rules: map[string]inner{"zeta": {Low: 3}, "alpha": {High: 4}}, Tags: []string{"a", "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join([]string{r.Key, r.Type, r.Default, r.Meaning}, " | "))
	}
	want := []string{
		"name | string | n | Name is the fixture's name.",
		"wait | duration | 1m30s | Wait is how long it waits.",
		"api_token | string | (set, not shown) | `api_token` authenticates; its default is never shown.",
		"empty_secret | string | \"\" | `empty_secret` shows that an empty secret is shown as empty.",
		"inner | section |  | `inner` is a nested section.",
		"inner.low | integer | 1 | Low and High bound it.",
		"inner.high | number | 2.5 | Low and High bound it.",
		"inner.flag | bool | true | Flag is a switch.",
		"items | list | 1 item | `items[]` is a nested section.",
		"items[].low | integer |  | Low and High bound it.",
		"items[].high | number |  | Low and High bound it.",
		"items[].flag | bool |  | Flag is a switch.",
		"rules | map | alpha, zeta | Rules by name.",
		"rules.<name>.low | integer |  | Low and High bound it.",
		"rules.<name>.high | number |  | Low and High bound it.",
		"rules.<name>.flag | bool |  | Flag is a switch.",
		"rules.alpha.low | integer | 0 | Low and High bound it.",
		"rules.alpha.high | number | 4 | Low and High bound it.",
		"rules.alpha.flag | bool |  | Flag is a switch.",
		"rules.zeta.low | integer | 3 | Low and High bound it.",
		"rules.zeta.high | number | 0 | Low and High bound it.",
		"rules.zeta.flag | bool |  | Flag is a switch.",
		"tags | list of string | a,b | Tags are labels.",
		"lower | integer | 0 | ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
