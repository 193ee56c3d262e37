#!/usr/bin/env bash
# Runs `go mod tidy` in every module, dependencies first. Each module's go.mod
# carries replace directives to its siblings, so tidy works module by module.
set -euo pipefail
cd "$(dirname "$0")/.."
export GONOSUMDB=github.com/chdb-io/chdb-go GOWORK=off GOFLAGS=-mod=mod
for m in schemas platform services/prober services/aggregator services/notifier services/query cli tests/e2e; do
  [ -f "$m/go.mod" ] || continue
  # -e: a Windows-only indirect dependency (go-ansiterm) of testcontainers is
  # refused by the module proxy; it is never built here.
  (cd "$m" && go mod tidy -e)
done
