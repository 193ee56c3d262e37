package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The notify subcommands refuse what they cannot act on, naming the flag.
func TestNotifyRefusesBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"notify"}, "no subcommand"},
		{[]string{"notify", "resend"}, `unknown subcommand "resend"`},
		{[]string{"notify", "redrive", "--from", "1h"}, "--destination is required"},
		{[]string{"notify", "redrive", "--destination", "ops"}, "--from is required"},
		{[]string{"notify", "redrive", "--destination", "ops", "--from", "1h", "--to", "2h"}, "must be after --from"},
		{[]string{"notify", "test"}, "want one DESTINATION"},
		{[]string{"notify", "test", "nope"}, `no destination is named "nope"`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), c.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("picket %q: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
