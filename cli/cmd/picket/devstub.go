//go:build !embedded

package main

import (
	"context"
	"errors"
	"io"
)

func dev(context.Context, []string, io.Writer, io.Writer) error {
	return errors.New("this picket was built without the embedded stack; run `make run` (go run -tags embedded ./cli/cmd/picket dev)")
}
