#!/usr/bin/env bash
# Runs a pinned Go tool (goimports, staticcheck), building it once per machine
# from the Go module proxy into .cache/bin.
#   scripts/tool.sh goimports -l .
set -euo pipefail
bin="$(cd "$(dirname "$0")/.." && pwd)/.cache/bin"
name="$1"; shift
case "$name" in
  goimports)   pkg=golang.org/x/tools/cmd/goimports@v0.52.0 ;;
  staticcheck) pkg=honnef.co/go/tools/cmd/staticcheck@v0.8.2 ;;
  *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
esac
mkdir -p "$bin"
want="${pkg#*@}"
if ! [ -x "$bin/$name" ] || ! go version -m "$bin/$name" 2>/dev/null | grep -q "	$want	"; then
  GOBIN="$bin" GOWORK=off go install "$pkg"
fi
exec "$bin/$name" "$@"
