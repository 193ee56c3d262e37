package devstack

import (
	"os"
	"sync"
	"time"

	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query/api"
)

// definitions are what the dev stack's query API shows of its checks'
// definitions: its own checks (the demo's, Options.Checks, or the checks
// file as it is now), then those published with picket apply to its
// checks topic. The query API is listening before the checks are known:
// set fills them in.
type definitions struct {
	mu    sync.RWMutex
	first api.FirstOf
}

func (d *definitions) set(sources ...api.Definitions) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.first = sources
}

// Definition implements api.Definitions.
func (d *definitions) Definition(id string) (api.Definition, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.first.Definition(id)
}

var (
	_ api.DefinitionLister = (*definitions)(nil)
	_ api.DefinitionLister = (*fileDefinitions)(nil)
)

// EachDefinition implements api.DefinitionLister.
func (d *definitions) EachDefinition(f func(string, api.Definition)) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.first.EachDefinition(f)
}

// definitionMap is checks as the query API shows their definitions: as
// the prober would publish them.
func definitionMap(checks []check.Check) api.DefinitionMap {
	m := api.DefinitionMap{}
	for _, c := range checks {
		b, err := check.MarshalDefinition(c)
		if err != nil {
			continue // a body_file not read: shown without a definition
		}
		if d, err := api.ParseDefinition(b); err == nil {
			m[c.ID] = d
		}
	}
	return m
}

// fileDefinitions are a checks file's definitions, read again when the
// file changes (the prober reloads it too).
type fileDefinitions struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	defs    api.DefinitionMap
}

// Definition implements api.Definitions.
func (f *fileDefinitions) Definition(id string) (api.Definition, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reload()
	d, ok := f.defs[id]
	return d, ok
}

// EachDefinition implements api.DefinitionLister.
func (f *fileDefinitions) EachDefinition(fn func(string, api.Definition)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reload()
	f.defs.EachDefinition(fn)
}

// reload reads the file again if it changed; f.mu is held.
func (f *fileDefinitions) reload() {
	if fi, err := os.Stat(f.path); err == nil && (!fi.ModTime().Equal(f.modTime) || fi.Size() != f.size) {
		// A file that does not load keeps what was read before, as the
		// prober keeps running the checks it had.
		if checks, err := check.LoadDefinitions(f.path); err == nil {
			f.defs, f.modTime, f.size = definitionMap(checks), fi.ModTime(), fi.Size()
		}
	}
}
