// Package config loads a service's configuration with koanf, in the order
// defaults → YAML file → environment (PICKET_…) → --set flags, and refuses
// to return a configuration with an unknown key or an invalid value.
//
// Environment variables map to keys by dropping the PICKET_ prefix, lower-casing,
// and reading "__" as the nesting separator: PICKET_KAFKA__BROKERS=a:9092,b:9092
// sets kafka.brokers. A value (from the environment or --set) is split at
// commas only when the key it sets is a list: a password "s3cr,et" stays one
// string.
//
// One environment often serves several Picket programs (a shell exporting
// PICKET_KAFKA__BROKERS and PICKET_CLICKHOUSE__PASSWORD for every picket
// command, a ConfigMap shared by the services): a variable in one of the
// SharedSections is ignored by a program whose configuration has no such
// section. Any other unknown key, from any source, is still refused.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix prefixes every environment variable Picket reads.
const EnvPrefix = "PICKET_"

// SharedSections are the connection sections several Picket programs read
// from one environment; see the package comment. token and query_url are
// the picket CLI's bearer token and address of the query API (PICKET_TOKEN,
// PICKET_QUERY_URL), which no service configuration has.
var SharedSections = []string{"kafka", "clickhouse", "log", "token", "query_url"}

// Validator is implemented by configurations that check their own values.
// The error must name the offending key.
type Validator interface {
	Validate() error
}

// Source says where configuration comes from beyond the defaults.
type Source struct {
	// File is a YAML file; empty means none.
	File string
	// Environ is the environment to read PICKET_ variables from; nil means none.
	Environ []string
	// Sets are key=value overrides, as given by --set flags.
	Sets []string
}

// Load fills dst, a pointer to a struct tagged with `koanf`, starting from
// defaults (a value of the same type) and applying src in order. It returns an
// error naming the key when a key is unknown or a value does not fit, and the
// error of dst's Validate method if it has one.
func Load(dst, defaults any, src Source) error {
	var file []byte
	if src.File != "" {
		b, err := os.ReadFile(src.File)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		file = b
	}
	return load(dst, defaults, src, file)
}

// load is Load with the file's contents already read.
func load(dst, defaults any, src Source, file []byte) error {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(defaults, "koanf"), nil); err != nil {
		return fmt.Errorf("config defaults: %w", err)
	}
	if src.File != "" {
		if err := k.Load(rawBytes(file), yaml.Parser()); err != nil {
			return fmt.Errorf("config file %s: %w", src.File, err)
		}
	}
	if src.Environ != nil {
		environ := foreignEnvDropped(src.Environ, dst)
		p := env.Provider(".", env.Opt{
			Prefix:        EnvPrefix,
			EnvironFunc:   func() []string { return environ },
			TransformFunc: envKey,
		})
		if err := k.Load(p, nil); err != nil {
			return fmt.Errorf("config environment: %w", err)
		}
	}
	if len(src.Sets) > 0 {
		m := map[string]any{}
		for _, s := range src.Sets {
			key, val, ok := strings.Cut(s, "=")
			if !ok || strings.TrimSpace(key) == "" {
				return fmt.Errorf("--set %q: want key=value", s)
			}
			m[strings.TrimSpace(key)] = val
		}
		if err := k.Load(confmap.Provider(m, "."), nil); err != nil {
			return fmt.Errorf("--set: %w", err)
		}
	}

	var md mapstructure.Metadata
	err := k.UnmarshalWithConf("", dst, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				splitLists,
				mapstructure.TextUnmarshallerHookFunc(),
			),
			Metadata:         &md,
			Result:           dst,
			WeaklyTypedInput: true,
			TagName:          "koanf",
		},
	})
	if err != nil {
		return fmt.Errorf("config: %w", cleanDecodeError(err))
	}
	if unused := unknownKeys(md.Unused); len(unused) > 0 {
		quoted := make([]string, len(unused))
		for i, k := range unused {
			quoted[i] = strconv.Quote(k)
		}
		return fmt.Errorf("config: unknown key %s", strings.Join(quoted, ", "))
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// foreignEnvDropped returns environ without the PICKET_ variables of shared
// sections dst has no field for.
func foreignEnvDropped(environ []string, dst any) []string {
	own := topLevelKeys(dst)
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) {
			key, _ := envKey(name, "")
			section, _, _ := strings.Cut(key, ".")
			if !own[section] && slices.Contains(SharedSections, section) {
				continue
			}
		}
		out = append(out, kv)
	}
	return out
}

// topLevelKeys returns the koanf names of the fields of the struct dst
// points to.
func topLevelKeys(dst any) map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return keys
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = true
	}
	return keys
}

// envKey turns PICKET_KAFKA__RESULTS_TOPIC into kafka.results_topic. The
// value stays a string: only decoding knows whether the key is a list.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

// splitLists is a decode hook: a string decoded into a list field (brokers
// "a:9092, b:9092") becomes its comma-separated, trimmed items. A string
// field keeps its commas. The items then decode as the list's element type.
func splitLists(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() == reflect.Uint8 {
		return data, nil
	}
	if reflect.PointerTo(to).Implements(textUnmarshaler) {
		return data, nil
	}
	s := data.(string)
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// rawBytes is a koanf provider of a file's contents already read.
type rawBytes []byte

func (b rawBytes) ReadBytes() ([]byte, error) { return b, nil }

func (b rawBytes) Read() (map[string]any, error) {
	return nil, errors.New("config: raw bytes need a parser")
}

// unknownKeys returns the keys no field consumed, sorted for a stable
// message, written as in the file: rules[availability].x is
// rules.availability.x (list indexes stay: silences[0].x).
func unknownKeys(unused []string) []string {
	out := make([]string, len(unused))
	for i, k := range unused {
		out[i] = mapIndex.ReplaceAllString(k, ".$1")
	}
	sort.Strings(out)
	return out
}

var mapIndex = regexp.MustCompile(`\[([^\]]*[^0-9\]][^\]]*)\]`)

var quotedKey = regexp.MustCompile(`^'([^']*)' (.*)$`)

// cleanDecodeError turns mapstructure's multi-line report into one line per
// problem, keeping the key names it gives.
func cleanDecodeError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s):")
	var lines []string
	for l := range strings.SplitSeq(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			// mapstructure says "'key' problem"; say "key: problem".
			if m := quotedKey.FindStringSubmatch(l); m != nil {
				l = m[1] + ": " + m[2]
			}
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return err
	}
	return errors.New(strings.Join(lines, "; "))
}

// Errors collects validation problems, each naming its key.
type Errors []string

// Addf records a problem with key.
func (e *Errors) Addf(key, format string, args ...any) {
	*e = append(*e, key+": "+fmt.Sprintf(format, args...))
}

// Err returns nil when there were no problems.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return errors.New(strings.Join(e, "; "))
}
