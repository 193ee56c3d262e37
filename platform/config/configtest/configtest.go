// Package configtest asserts that a service refuses each of its
// testdata/invalid-*.yaml files with exactly the expected error.
package configtest

import (
	"path/filepath"
	"testing"

	"github.com/picket-dev/picket/platform/config"
)

// RefusesInvalidFiles loads every testdata/invalid-*.yaml into a fresh
// configuration from newDefault and compares the error with want[file name].
// Every file must have an expectation and every expectation a file.
func RefusesInvalidFiles(t *testing.T, newDefault func() any, want map[string]string) {
	t.Helper()
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) != len(want) {
		t.Fatalf("%d testdata/invalid-*.yaml files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			w, ok := want[filepath.Base(f)]
			if !ok {
				t.Fatalf("no expectation for %s", f)
			}
			err := config.Load(newDefault(), newDefault(), config.Source{File: f})
			if err == nil || err.Error() != w {
				t.Fatalf("error %v\nwant  %s", err, w)
			}
		})
	}
}
