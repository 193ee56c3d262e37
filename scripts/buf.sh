#!/usr/bin/env bash
# Runs the pinned buf (with the pinned protoc-gen-go on PATH), building both
# once per machine from the Go module proxy into .cache/bin.
set -euo pipefail
bin="$(cd "$(dirname "$0")/.." && pwd)/.cache/bin"
mkdir -p "$bin"
[ -x "$bin/buf" ] || GOBIN="$bin" GOWORK=off go install github.com/bufbuild/buf/cmd/buf@v1.75.0
[ -x "$bin/protoc-gen-go" ] || GOBIN="$bin" GOWORK=off go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PATH="$bin:$PATH" exec buf "$@"
