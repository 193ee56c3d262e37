package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

func TestMain(m *testing.M) {
	code := embeddedtest.Main(m)
	if embeddedPicketDir != "" {
		os.RemoveAll(embeddedPicketDir)
	}
	// A skipped environment is said even without -v: a green run that ran
	// none of the container scenarios must not pass for one that did.
	if n := containersSkipped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "e2e: %d containers scenarios skipped: %s\n", n, dockerUnavailable())
	}
	os.Exit(code)
}
