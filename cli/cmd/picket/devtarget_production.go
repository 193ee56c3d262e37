//go:build !embedded

package main

import (
	"fmt"
	"strings"

	"github.com/picket-dev/picket/cli/devstack/ops"
)

// openStopped cannot open a stopped dev stack's data: this build links
// neither kfake's log nor libchdb. It says what to do instead.
func openStopped(dir, what string) (ops.Env, func() error, error) {
	return ops.Env{}, nil, fmt.Errorf("data_dir %s holds a stopped `picket dev`: start it (make run) and run this again, "+
		"or use the embedded build, which opens the data itself: CHDB_LIB_PATH=$(scripts/libchdb.sh) go run -tags embedded ./cli/cmd/picket %s …", dir, strings.TrimPrefix(what, "picket "))
}
