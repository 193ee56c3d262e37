package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The production binaries must start without libchdb: none of them may link
// the chdb binding, whose package init panics when the library is missing.
// (`picket dev` links it only in builds with -tags embedded.)
func TestServiceBinariesDoNotLinkLibchdb(t *testing.T) {
	for _, cmd := range []string{
		"github.com/picket-dev/picket/services/prober/cmd/prober",
		"github.com/picket-dev/picket/services/aggregator/cmd/aggregator",
		"github.com/picket-dev/picket/services/notifier/cmd/notifier",
		"github.com/picket-dev/picket/services/query/cmd/query",
		"github.com/picket-dev/picket/cli/cmd/picket", // without -tags embedded
	} {
		out, err := exec.Command("go", "list", "-deps", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", cmd, err, out)
		}
		deps := string(out)
		if !strings.Contains(deps, "github.com/picket-dev/picket/platform/config") {
			t.Fatalf("go list -deps %s does not look like a dependency list:\n%s", cmd, deps)
		}
		if strings.Contains(deps, "chdb-io/chdb-go") {
			t.Errorf("%s links the libchdb binding", cmd)
		}
	}
}

// runBinary runs bin with args and env added to the environment, and returns
// its combined output and exit code.
func runBinary(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// `make build` builds every production binary, picket among them, and the
// production picket runs (help, apply's flags) without libchdb.
func TestMakeBuildBuildsPicket(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	bin := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "build", "BIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, name := range []string{"prober", "aggregator", "notifier", "query", "picket"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Errorf("make build did not build %s: %v", name, err)
		}
	}
	nowhere := []string{"CHDB_LIB_PATH=" + filepath.Join(t.TempDir(), "libchdb.so")}
	picket := filepath.Join(bin, "picket")
	for _, args := range [][]string{{"-h"}, {"--help"}, {"apply", "-h"}, {"replay", "--help"}, {"backtest", "-h"}, {"migrate", "-h"}, {"dev", "--help"}} {
		if out, code := runBinary(t, nowhere, picket, args...); code != 0 || strings.Contains(out, "flag: help requested") {
			t.Errorf("picket %q: exit %d\n%s", args, code, out)
		}
	}
	out, code := runBinary(t, nowhere, picket, "dev")
	if code != 1 || !strings.Contains(out, "built without the embedded stack; run `make run`") {
		t.Errorf("production picket dev: exit %d\n%s", code, out)
	}
}

// The embedded picket (`make run`'s) never panics for want of libchdb: with
// CHDB_LIB_PATH naming nothing every command, --help too, stops with one line
// naming CHDB_LIB_PATH and `make run`; with the library, help exits 0 and a
// start failure prints its cause and exits 1.
func TestEmbeddedPicketWithoutAndWithLibchdb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the embedded picket")
	}
	lib := os.Getenv("CHDB_LIB_PATH")
	if lib == "" {
		t.Skip("CHDB_LIB_PATH unset (scripts/libchdb.sh prints it)")
	}
	picket := filepath.Join(t.TempDir(), "picket")
	if out, err := exec.Command("go", "build", "-tags", "embedded", "-o", picket, "github.com/picket-dev/picket/cli/cmd/picket").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags embedded: %v\n%s", err, out)
	}
	nowhere := []string{"CHDB_LIB_PATH=" + filepath.Join(t.TempDir(), "libchdb.so")}
	for _, args := range [][]string{{"--help"}, {"dev", "--help"}, {"replay", "--help"}, {"dev"}} {
		out, code := runBinary(t, nowhere, picket, args...)
		if code != 1 || strings.Contains(out, "panic") || strings.Count(strings.TrimSpace(out), "\n") != 0 ||
			!strings.Contains(out, "CHDB_LIB_PATH=") || !strings.Contains(out, "make run") {
			t.Errorf("picket %q without libchdb: exit %d, want 1 and one line naming CHDB_LIB_PATH and make run:\n%s", args, code, out)
		}
	}

	withLib := []string{"CHDB_LIB_PATH=" + lib}
	for _, args := range [][]string{{"-h"}, {"dev", "-h"}, {"replay", "--help"}, {"apply", "--help"}} {
		if out, code := runBinary(t, withLib, picket, args...); code != 0 || strings.Contains(out, "flag: help requested") {
			t.Errorf("picket %q: exit %d\n%s", args, code, out)
		}
	}
	typo := filepath.Join(t.TempDir(), "dev.yaml")
	if err := os.WriteFile(typo, []byte("qurey_addr: 127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runBinary(t, withLib, picket, "dev", "--config", typo); code != 1 || out != "picket: config: unknown key \"qurey_addr\"\n" {
		t.Errorf("picket dev with a typo in its config: exit %d\n%s", code, out)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	out, code := runBinary(t, withLib, picket, "dev", "--set", "data_dir="+t.TempDir(), "--set", "query_addr="+addr,
		"--set", "kafka_addr=127.0.0.1:0", "--set", "admin_addr=127.0.0.1:0", "--set", "demo.target_addr=127.0.0.1:0",
		"--set", "demo.receiver_addr=127.0.0.1:0")
	want := "picket: dev: query_addr " + addr + " is in use — is another `picket dev` running? change query_addr"
	if code != 1 || strings.Contains(out, "panic") || !strings.Contains(out, want) {
		t.Errorf("picket dev on a taken port: exit %d, want 1 and %q:\n%s", code, want, out)
	}
}
