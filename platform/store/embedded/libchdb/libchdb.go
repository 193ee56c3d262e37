// Package libchdb finds libchdb.so before the chdb binding's package init
// tries to load it, and stops the process with one line saying how to get the
// library when it cannot be found. The binding's init panics when the library
// is missing, so this package must run first:
//
//   - it imports only packages the binding itself depends on through os/exec
//     (os, path/filepath, strings): Go initialises, among the packages whose
//     imports are done, the first by import path, and this package's path
//     sorts before os/exec, which the binding imports, so it is always
//     initialised before the binding;
//   - it must never import fmt, os/exec or anything outside that set, or the
//     ordering above stops holding.
//
// Lookup: CHDB_LIB_PATH when set (it must name an existing file), else the
// copy scripts/libchdb.sh fetched, .cache/libchdb/<Version>/libchdb.so, found
// by walking up from the working directory (a test's package directory, the
// repository for `go run`) and from the executable's directory (bin/ of the
// repository), else the binding's own system locations. A found copy is put
// into CHDB_LIB_PATH for the binding.
package libchdb

import (
	"os"
	"path/filepath"
	"strings"
)

// Version is the libchdb version scripts/libchdb.sh fetches (and the chdb
// binding expects).
const Version = "26.5.3"

// Hint says how to get the library; it ends every failure message.
const Hint = "run `make run` or `make test`, which fetch it with scripts/libchdb.sh, " +
	"or set CHDB_LIB_PATH to the path scripts/libchdb.sh prints"

// systemPaths are where the binding looks by itself when CHDB_LIB_PATH is unset.
var systemPaths = []string{"/usr/local/lib/libchdb.so", "/opt/homebrew/lib/libchdb.dylib"}

func init() {
	if path, problem := Find(os.Getenv, os.Getwd, os.Executable); problem != "" {
		os.Stderr.WriteString("picket: " + problem + "\n")
		os.Exit(1)
	} else if path != "" {
		os.Setenv("CHDB_LIB_PATH", path)
	}
}

// Find returns the library's path to put into CHDB_LIB_PATH ("" when the
// binding finds it by itself), or a one-line problem naming CHDB_LIB_PATH and
// how to get the library.
func Find(getenv func(string) string, getwd, executable func() (string, error)) (path, problem string) {
	if p := getenv("CHDB_LIB_PATH"); p != "" {
		if !isFile(p) {
			return "", "libchdb.so (the embedded ClickHouse) not found: CHDB_LIB_PATH=" + p + " is not a file; " + Hint
		}
		return "", ""
	}
	var starts []string
	if wd, err := getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		if p := walkUp(start); p != "" {
			return p, ""
		}
	}
	for _, p := range systemPaths {
		if isFile(p) {
			return "", ""
		}
	}
	for _, dir := range strings.Split(getenv("LD_LIBRARY_PATH"), ":") {
		if dir != "" && isFile(filepath.Join(dir, "libchdb.so")) {
			return "", ""
		}
	}
	return "", "libchdb.so (the embedded ClickHouse) not found: CHDB_LIB_PATH is unset and no .cache/libchdb/" +
		Version + "/libchdb.so above " + strings.Join(starts, " or ") + "; " + Hint
}

// walkUp returns dir/.cache/libchdb/Version/libchdb.so for the nearest dir at
// or above start that has it.
func walkUp(start string) string {
	dir, err := filepath.Abs(start)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, ".cache", "libchdb", Version, "libchdb.so")
		if isFile(p) {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}
