// Package config loads a service's configuration with koanf, in the order
// defaults → YAML file → environment (PICKET_…) → --set flags, and refuses
// to return a configuration with an unknown key or an invalid value.
//
// Environment variables map to keys by dropping the PICKET_ prefix, lower-casing,
// and reading "__" as the nesting separator: PICKET_KAFKA__BROKERS=a:9092,b:9092
// sets kafka.brokers.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix prefixes every environment variable Picket reads.
const EnvPrefix = "PICKET_"

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
	k := koanf.New(".")
	if err := k.Load(structs.Provider(defaults, "koanf"), nil); err != nil {
		return fmt.Errorf("config defaults: %w", err)
	}
	if src.File != "" {
		if _, err := os.Stat(src.File); err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return fmt.Errorf("config file %s: %w", src.File, err)
		}
	}
	if src.Environ != nil {
		environ := src.Environ
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
			m[strings.TrimSpace(key)] = listValue(val)
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
				mapstructure.StringToSliceHookFunc(","),
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
		return fmt.Errorf("config: unknown key %q", strings.Join(unused, `", "`))
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// envKey turns PICKET_KAFKA__RESULTS_TOPIC into kafka.results_topic, and a
// comma-separated value into a list.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), listValue(v)
}

func listValue(v string) any {
	if strings.Contains(v, ",") {
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	return v
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
