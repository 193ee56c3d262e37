//go:build !embedded

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

func dev(_ context.Context, args []string, stdout, _ io.Writer) error {
	if slices.Contains(args, "-h") || slices.Contains(args, "--help") || slices.Contains(args, "-help") {
		fmt.Fprintln(stdout, "usage: picket dev [--config FILE] [--set key=value]\n\n"+devUnavailable)
		return nil
	}
	return errors.New(devUnavailable)
}

const devUnavailable = "this picket was built without the embedded stack; run `make run` (go run -tags embedded ./cli/cmd/picket dev)"
