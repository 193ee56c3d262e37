package libchdb

import (
	"errors"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func dir(d string) func() (string, error) { return func() (string, error) { return d, nil } }

func fail() (string, error) { return "", errors.New("unavailable") }

func fakeLib(t *testing.T, root string) string {
	t.Helper()
	p := filepath.Join(root, ".cache", "libchdb", Version, "libchdb.so")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFind(t *testing.T) {
	repo := t.TempDir()
	lib := fakeLib(t, repo)
	pkg := filepath.Join(repo, "platform", "store", "embedded")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()

	// The copy scripts/libchdb.sh fetched, from a test's package directory.
	if p, problem := Find(env(nil), dir(pkg), fail); p != lib || problem != "" {
		t.Errorf("from the package directory: %q, %q; want %q", p, problem, lib)
	}
	// From a binary in the repository's bin/, run from anywhere.
	if p, problem := Find(env(nil), dir(elsewhere), dir(filepath.Join(repo, "bin"))); p != lib || problem != "" {
		t.Errorf("from bin/: %q, %q; want %q", p, problem, lib)
	}
	// CHDB_LIB_PATH wins and is left as it is.
	if p, problem := Find(env(map[string]string{"CHDB_LIB_PATH": lib}), dir(elsewhere), fail); p != "" || problem != "" {
		t.Errorf("CHDB_LIB_PATH set: %q, %q", p, problem)
	}
	// A CHDB_LIB_PATH naming nothing is refused, naming it and how to fix it.
	_, problem := Find(env(map[string]string{"CHDB_LIB_PATH": "/nowhere/libchdb.so"}), dir(pkg), fail)
	if want := "libchdb.so (the embedded ClickHouse) not found: CHDB_LIB_PATH=/nowhere/libchdb.so is not a file; " + Hint; problem != want {
		t.Errorf("CHDB_LIB_PATH pointing nowhere:\n got %q\nwant %q", problem, want)
	}
	// Nothing anywhere: one line saying how to get it.
	_, problem = Find(env(nil), dir(elsewhere), fail)
	if !strings.Contains(problem, "CHDB_LIB_PATH is unset") || !strings.Contains(problem, "make run") ||
		!strings.Contains(problem, "scripts/libchdb.sh") || strings.Contains(problem, "\n") {
		t.Errorf("nothing found: %q", problem)
	}
}

// The init ordering this package relies on (see the package comment): its
// imports must stay within what os/exec, which the binding imports, depends on.
func TestImportsStayBelowOsExec(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "libchdb.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"os": true, "path/filepath": true, "strings": true, "errors": true}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if !allowed[p] {
			t.Errorf("libchdb.go imports %s: it could then be initialised after the chdb binding, whose init panics without the library", p)
		}
	}
}

// Version is what scripts/libchdb.sh fetches.
func TestVersionMatchesTheScript(t *testing.T) {
	b, err := os.ReadFile("../../../../scripts/libchdb.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nversion="+Version+"\n") {
		t.Fatalf("scripts/libchdb.sh does not fetch version %s", Version)
	}
}

func withoutLibPath() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHDB_LIB_PATH=") {
			out = append(out, kv)
		}
	}
	return out
}

// `go test` of a store package with CHDB_LIB_PATH unset finds the library
// scripts/libchdb.sh fetched into the repository's .cache/ and passes; with
// CHDB_LIB_PATH naming nothing it stops with one line, not the binding's panic.
func TestGoTestWithoutLibPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a test binary")
	}
	if walkUp(".") == "" {
		t.Skip("no .cache/libchdb/" + Version + "/libchdb.so in this repository: run scripts/libchdb.sh")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command(gobin, "test", "-count=1", "-run", "^TestInsertRoundTripsEveryValue$", "..")
	cmd.Env = withoutLibPath()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test with CHDB_LIB_PATH unset: %v\n%s", err, out)
	}

	cmd = exec.Command(gobin, "test", "-count=1", "-run", "^TestInsertRoundTripsEveryValue$", "..")
	cmd.Env = append(withoutLibPath(), "CHDB_LIB_PATH="+filepath.Join(t.TempDir(), "libchdb.so"))
	out, err = cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("go test with CHDB_LIB_PATH pointing nowhere passed:\n%s", out)
	}
	if strings.Contains(string(out), "panic") || !strings.Contains(string(out), "picket: libchdb.so (the embedded ClickHouse) not found: CHDB_LIB_PATH=") {
		t.Fatalf("go test with CHDB_LIB_PATH pointing nowhere: want one line naming CHDB_LIB_PATH, got\n%s", out)
	}
}
