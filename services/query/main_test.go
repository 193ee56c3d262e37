package query

import (
	"os"
	"testing"

	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }
