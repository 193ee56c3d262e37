// Command dockerfile-lint runs BuildKit's Dockerfile checks — the rules
// `docker build --check` runs — on a Dockerfile, with no BuildKit daemon and
// no registry: base images resolve to an empty linux/amd64 configuration.
// It parses every stage (a syntax error or an unknown instruction fails) and
// prints each rule's warning; any warning or error exits 1.
//
// With -context DIR it also measures the build context docker would send
// from DIR (its .dockerignore read by docker's own pattern matcher) and
// fails when it exceeds -max-context-mb: a cache or data directory that
// slipped in would otherwise go unnoticed until someone builds.
//
// Its own module (not in go.work) keeps BuildKit out of Picket's modules;
// scripts/check-compose.sh builds it once per machine into .cache/bin. The
// BuildKit version is the one docker compose v2.40.3 builds with.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	contextDir := flag.String("context", "", "also measure the build context of this `dir`")
	maxMB := flag.Float64("max-context-mb", 20, "largest build context accepted, in MB")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint [-context DIR [-max-context-mb N]] Dockerfile")
		os.Exit(2)
	}
	err := run(flag.Arg(0))
	if err == nil && *contextDir != "" {
		err = measureContext(*contextDir, *maxMB)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerfile-lint:", err)
		os.Exit(1)
	}
}

// measureContext sums the regular files docker would send from dir.
func measureContext(dir string, maxMB float64) error {
	var patterns []string
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	switch {
	case err == nil:
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s/.dockerignore: %w", dir, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("%s/.dockerignore: %w", dir, err)
	}
	var files, bytes int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files++
			bytes += info.Size()
		}
		return nil
	})
	if err != nil {
		return err
	}
	mb := float64(bytes) / 1e6
	fmt.Printf("build context of %s: %d files, %.1f MB\n", dir, files, mb)
	if mb > maxMB {
		return fmt.Errorf("build context of %s is %.1f MB, over %.0f MB: exclude what the images do not need in .dockerignore", dir, mb, maxMB)
	}
	return nil
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
