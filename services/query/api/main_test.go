package api

import (
	"os"
	"testing"

	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

func TestMain(m *testing.M) {
	code := embeddedtest.Main(m)
	closeBrowser() // the one browser the dashboard tests share
	os.Exit(code)
}
