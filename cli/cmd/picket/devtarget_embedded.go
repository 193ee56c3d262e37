//go:build embedded

package main

import (
	"github.com/picket-dev/picket/cli/devstack"
	"github.com/picket-dev/picket/cli/devstack/ops"
)

// openStopped opens a stopped dev stack's data directory: kfake on its Kafka
// log and libchdb on its tables, held under the directory's lock.
func openStopped(dir, what string) (ops.Env, func() error, error) {
	return devstack.OpenStopped(dir, what)
}
