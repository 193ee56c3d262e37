#!/usr/bin/env bash
# Checks the event schemas: buf lint, generated Go up to date, and no change
# that breaks wire compatibility with the previous commit (buf breaking).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
buf="$root/scripts/buf.sh"

cd "$root/schemas"
"$buf" lint
"$buf" generate
if [ -n "$(git status --porcelain -- gen)" ]; then
  git status --porcelain -- gen
  echo "schemas: generated code in schemas/gen is stale: run 'make generate' and commit it" >&2
  exit 1
fi
# Uncommitted schema changes are checked against HEAD; HEAD against its parent.
"$buf" breaking --against "$root/.git#ref=HEAD,subdir=schemas"
if git -C "$root" rev-parse -q --verify HEAD~1 >/dev/null && git -C "$root" cat-file -e HEAD~1:schemas/buf.yaml 2>/dev/null; then
  "$buf" breaking --against "$root/.git#ref=HEAD~1,subdir=schemas"
else
  echo "schemas: HEAD has no parent with schemas/ (first commit or shallow clone): only HEAD checked"
fi
echo "schemas: ok"
