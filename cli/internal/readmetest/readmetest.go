// Package readmetest extracts what the repository's README files show a user
// to type (commands, `--set` and `PICKET_…` examples), so that tests can run
// every one of them: a README example that the code refuses is a bug. It is
// for tests only and never reads anything but README.md files.
package readmetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Span is one code span or one line of a code block of a README, its
// whitespace (line breaks included: inline spans may wrap) collapsed.
type Span struct {
	// File is the README's path relative to the repository's root.
	File   string
	Tokens []string
}

func (s Span) String() string { return s.File + ": `" + strings.Join(s.Tokens, " ") + "`" }

// Root is the repository's root: the nearest directory above the working
// directory holding go.work.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = parent
	}
}

var (
	// A fenced block tagged text is a drawing or sample output, not code.
	fenced = regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```")
	inline = regexp.MustCompile("(?s)`([^`]+)`")
)

// Spans returns the code of every README.md under root.
func Spans(t testing.TB, root string) []Span {
	t.Helper()
	var out []Span
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "README.md" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		text := string(b)
		for _, m := range fenced.FindAllStringSubmatch(text, -1) {
			if m[1] == "text" {
				continue
			}
			for line := range strings.SplitSeq(m[2], "\n") {
				if line, _, _ = strings.Cut(line, " #"); strings.TrimSpace(line) != "" {
					out = append(out, Span{File: rel, Tokens: strings.Fields(line)})
				}
			}
		}
		for _, m := range inline.FindAllStringSubmatch(fenced.ReplaceAllString(text, ""), -1) {
			out = append(out, Span{File: rel, Tokens: strings.Fields(m[1])})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no README code found under " + root)
	}
	return out
}

// Command returns the arguments following program (a token equal to it or
// ending in "/"+program) in s, up to a shell separator; ok is false when s
// does not run program. A synopsis's optional parts ([--to T]) are kept,
// without their brackets.
func (s Span) Command(program string) (args []string, ok bool) {
	for i, tok := range s.Tokens {
		if tok != program && !strings.HasSuffix(tok, "/"+program) {
			continue
		}
		for _, a := range s.Tokens[i+1:] {
			if a == "|" || a == "&&" || a == ";" || strings.HasPrefix(a, "(") {
				break
			}
			if a = strings.Trim(a, "[]"); a != "" {
				args = append(args, a)
			}
		}
		return args, true
	}
	return nil, false
}

// Sets returns the key=value of every `--set` in s.
func (s Span) Sets() []string {
	var out []string
	for i, tok := range s.Tokens {
		if v, ok := strings.CutPrefix(tok, "--set="); ok {
			out = append(out, v)
		} else if tok == "--set" && i+1 < len(s.Tokens) {
			out = append(out, s.Tokens[i+1])
		}
	}
	return out
}

var envExample = regexp.MustCompile(`^\(?(PICKET_[A-Z0-9_]+=[^\s)]*)`)

// Env returns every PICKET_X=value example in s.
func (s Span) Env() []string {
	var out []string
	for _, tok := range s.Tokens {
		if m := envExample.FindStringSubmatch(tok); m != nil {
			out = append(out, strings.TrimRight(m[1], ":,"))
		}
	}
	return out
}

// ConfigKeys returns, for every README.md under root (relative path), the
// keys its configuration tables (those whose first header cell is "key")
// name: `kafka.results_topic`, `alerts_topic` in one cell is
// kafka.results_topic and kafka.alerts_topic. Patterns (`log.*`,
// `rules.<name>`, `webhooks[].url`) are left out.
func ConfigKeys(t testing.TB, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "README.md" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		inTable := false
		for line := range strings.SplitSeq(string(b), "\n") {
			cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
			switch {
			case !strings.HasPrefix(line, "|"):
				inTable = false
			case strings.TrimSpace(cells[0]) == "key":
				inTable = true
			case inTable:
				prefix, pattern := "", false
				for _, m := range inline.FindAllStringSubmatch(cells[0], -1) {
					key := m[1]
					if strings.ContainsAny(key, "*<[") {
						pattern = true // and so are the short names after it
						continue
					}
					if i := strings.LastIndex(key, "."); i >= 0 {
						pattern = false
						prefix = key[:i+1]
					} else if pattern {
						continue
					} else {
						key = prefix + key
					}
					out[rel] = append(out[rel], key)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
