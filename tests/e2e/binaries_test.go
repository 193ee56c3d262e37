package e2e

import (
	"os/exec"
	"strings"
	"testing"
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
