#!/usr/bin/env bash
# Runs every fuzz target in the repository for a bounded time each
# (FUZZTIME, default 10s). The seed corpora (f.Add and testdata/fuzz/) already
# run as ordinary tests in `go test`; this step looks for new crashes. A crash
# writes its input under the package's testdata/fuzz/FuzzX/ — commit it as a
# regression test together with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
found=0
while IFS= read -r file; do
  dir="$(dirname "$file")"
  for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    found=$((found + 1))
    echo "-- fuzz ./$dir $name ($fuzztime)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"
  done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | grep -v '^./.cache/' | sed 's|^\./||' | sort)
echo "fuzz: $found targets, $fuzztime each, no crash"
