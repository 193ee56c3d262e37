// Command picket-healthcheck is the container health check of Picket's
// images: it GETs each URL given and exits 0 only when every one answers
// 2xx within the timeout. The images are distroless (no shell, curl or
// wget), so docker compose's healthcheck runs this instead:
//
//	healthcheck: {test: [CMD, /usr/local/bin/picket-healthcheck, http://127.0.0.1:9101/readyz]}
//
// It must stay tiny and standard-library only: it is copied into every image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "picket-healthcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("picket-healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "time allowed for each URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: picket-healthcheck [-timeout 3s] URL [URL ...]")
	}
	client := &http.Client{Timeout: *timeout}
	for _, u := range fs.Args() {
		if err := check(ctx, client, u); err != nil {
			return err
		}
	}
	return nil
}

// check GETs u; a non-2xx answer is an error quoting the start of its body,
// which for /readyz names the failing dependency.
func check(ctx context.Context, client *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
