package devstack

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picket-dev/picket/cli/internal/readmetest"
	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/services/aggregator"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/query"
)

// loaders load a configuration the way each program does.
var loaders = map[string]func(config.Source) error{
	"dev": func(s config.Source) error { c := DefaultConfig(); return config.Load(&c, DefaultConfig(), s) },
	"prober": func(s config.Source) error {
		c := prober.DefaultConfig()
		return config.Load(&c, prober.DefaultConfig(), s)
	},
	"aggregator": func(s config.Source) error {
		c := aggregator.DefaultConfig()
		return config.Load(&c, aggregator.DefaultConfig(), s)
	},
	"notifier": func(s config.Source) error {
		c := notifier.DefaultConfig()
		return config.Load(&c, notifier.DefaultConfig(), s)
	},
	"query": func(s config.Source) error {
		c := query.DefaultConfig()
		return config.Load(&c, query.DefaultConfig(), s)
	},
}

// owner is whose configuration a README's examples are: a service's README
// shows the service's, the root README `picket dev`'s (and, for PICKET_…
// variables, any service's).
func owner(file string) string {
	parts := strings.Split(filepath.ToSlash(file), "/")
	if len(parts) >= 3 && parts[0] == "services" && loaders[parts[1]] != nil {
		return parts[1]
	}
	return "dev"
}

// Every `--set` and `PICKET_…` example a README shows is accepted by the
// configuration it is written for (the README once showed
// `--set alerting.default.window=30s`, which `picket dev` refused).
func TestREADMEConfigExamplesAreAccepted(t *testing.T) {
	sets, envs := 0, 0
	for _, sp := range readmetest.Spans(t, readmetest.Root(t)) {
		if args, ok := sp.Command("picket"); ok && len(args) > 0 && args[0] != "dev" {
			continue // the other commands' flags: cli/cmd/picket's README test
		}
		who := owner(sp.File)
		var examples []string
		for _, s := range sp.Sets() {
			if s != "key=value" { // the syntax, not an example
				examples = append(examples, s)
			}
		}
		if len(examples) > 0 {
			sets += len(examples)
			if err := loaders[who](config.Source{Sets: examples}); err != nil {
				t.Errorf("%s: %s refuses it: %v", sp, who, err)
			}
		}
		for _, e := range sp.Env() {
			envs++
			candidates := []string{who}
			if who == "dev" {
				candidates = []string{"dev", "prober", "aggregator", "notifier", "query"}
			}
			var errs []string
			for _, c := range candidates {
				if err := loaders[c](config.Source{Environ: []string{e}}); err != nil {
					errs = append(errs, c+": "+err.Error())
				}
			}
			if len(errs) == len(candidates) {
				t.Errorf("%s: %s is refused: %s", sp, e, strings.Join(errs, "; "))
			}
		}
	}
	if sets == 0 || envs == 0 {
		t.Fatalf("found %d --set and %d PICKET_ examples in the READMEs: the extraction is broken", sets, envs)
	}
	// The extraction sees the examples a user copies.
	if err := loaders["dev"](config.Source{Sets: []string{"alerting.default.window=30s"}}); err == nil {
		t.Fatal("the old README example is accepted: the test would not have caught it")
	}
}

// Every `make` target a README shows exists (`make -n` plans it).
func TestREADMEMakeTargetsExist(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	root := readmetest.Root(t)
	seen := map[string]bool{}
	for _, sp := range readmetest.Spans(t, root) {
		args, ok := sp.Command("make")
		if !ok || len(args) == 0 || strings.HasPrefix(args[0], "-") || seen[args[0]] {
			continue
		}
		seen[args[0]] = true
		if out, err := exec.Command("make", "-n", "-C", root, args[0]).CombinedOutput(); err != nil {
			t.Errorf("%s: make -n %s: %v\n%s", sp, args[0], err, out)
		}
	}
	for _, want := range []string{"run", "test", "build"} {
		if !seen[want] {
			t.Errorf("no README shows `make %s`", want)
		}
	}
}

// Every key a README's configuration table names is a key of the
// configuration it documents (a service's, or `picket dev`'s) (set to an empty value, it may be refused as a
// value, never as an unknown key).
func TestREADMEConfigTablesNameRealKeys(t *testing.T) {
	n := 0
	for file, keys := range readmetest.ConfigKeys(t, readmetest.Root(t)) {
		who := owner(file)
		load := loaders[who]
		for _, key := range keys {
			n++
			if err := load(config.Source{Sets: []string{key + "="}}); err != nil && strings.Contains(err.Error(), "unknown key") {
				t.Errorf("%s names %s, which %s does not have: %v", file, key, who, err)
			}
		}
	}
	if n < 20 {
		t.Fatalf("found %d keys in the READMEs' configuration tables: the extraction is broken", n)
	}
}
