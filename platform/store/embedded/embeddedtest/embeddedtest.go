// Package embeddedtest gives tests a Store on the embedded engine, each in a
// fresh database.
//
// libchdb allows one data directory per process, so every test in a test
// binary shares one engine (opened on first use, in a temporary directory) and
// is isolated by database name instead.
//
// PICKET_TEST_CHDB_DIR names a directory to open instead, kept after the run:
// benchmarks can then keep a seeded database from one run to the next (see
// KeptDir).
package embeddedtest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded"
)

var (
	once    sync.Once
	backend *embedded.Backend
	openErr error
	dir     string
	seq     atomic.Int64
)

// Backend returns the process's shared embedded engine.
func Backend(t testing.TB) *embedded.Backend {
	t.Helper()
	once.Do(func() {
		path := KeptDir()
		if path == "" {
			var err error
			if dir, err = os.MkdirTemp("", "picket-chdb-test-"); err != nil {
				openErr = err
				return
			}
			path = dir
		}
		backend, openErr = embedded.Open(path, 4)
	})
	if openErr != nil {
		t.Fatalf("embedded clickhouse: %v", openErr)
	}
	return backend
}

// KeptDir is the engine's directory when PICKET_TEST_CHDB_DIR names one, kept
// after the run; "" when the engine lives in a temporary directory.
func KeptDir() string { return os.Getenv("PICKET_TEST_CHDB_DIR") }

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// Database returns a fresh database name for t.
func Database(t testing.TB) string {
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d_%s", seq.Add(1), strings.ToLower(name))
}

// Store returns a migrated Store in a fresh database, dropped when t ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	b := Backend(t)
	db := Database(t)
	if KeptDir() != "" { // a run that crashed left its databases
		if err := b.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db, nil); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.New(b, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
	t.Cleanup(func() {
		_ = b.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+"", nil)
	})
	return s
}

// Main runs a test binary's tests and then closes the shared engine and
// removes its directory; call it from TestMain. Leaving libchdb's
// connections open at exit crashes the race detector's exit hook.
func Main(m *testing.M) int {
	code := m.Run()
	if backend != nil {
		backend.Close()
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
	return code
}

// Day is midnight (UTC) two days before the test run: a base for test data
// that is well inside every table's TTL. ClickHouse drops rows whose TTL has
// already expired as they are inserted, so a fixed date in a test would
// stop being stored a month after it was written.
func Day() time.Time { return day }

var day = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
