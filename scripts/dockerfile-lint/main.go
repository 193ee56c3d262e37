// Command dockerfile-lint runs BuildKit's Dockerfile checks — the rules
// `docker build --check` runs — on a Dockerfile, with no BuildKit daemon and
// no registry: base images resolve to an empty linux/amd64 configuration.
// It parses every stage (a syntax error or an unknown instruction fails) and
// prints each rule's warning; any warning or error exits 1.
//
// Its own module (not in go.work) keeps BuildKit out of Picket's modules;
// scripts/check-compose.sh builds it once per machine into .cache/bin. The
// BuildKit version is the one docker compose v2.40.3 builds with.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint Dockerfile")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "dockerfile-lint:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	ctx := context.Background()
	dt, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	st := llb.Local("context")
	def, err := st.Marshal(ctx)
	if err != nil {
		return err
	}
	sm := llb.NewSourceMap(&st, path, "Dockerfile", dt)
	sm.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config: dockerui.Config{}, SourceMap: sm, MetaResolver: offline{},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, w := range res.Warnings {
		line := 0
		if len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		fmt.Printf("%s:%d: %s: %s (%s)\n", path, line, w.RuleName, w.Detail, w.URL)
	}
	if res.Error != nil {
		return fmt.Errorf("%s: %s", path, res.Error.Message)
	}
	if len(res.Warnings) > 0 {
		return fmt.Errorf("%s: %d warnings", path, len(res.Warnings))
	}
	fmt.Printf("%s: no warnings\n", path)
	return nil
}

// offline resolves every base image to an empty linux/amd64 configuration
// with the usual PATH: the checks need no registry.
type offline struct{}

func (offline) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := `{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`
	return ref, digest.FromString(ref), []byte(cfg), nil
}
