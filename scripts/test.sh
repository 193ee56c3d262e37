#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: formatting, vet, the
# schema checks, then every module's tests with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=(schemas platform services/prober services/aggregator services/notifier services/query cli tests/e2e)
pkgs=()
for m in "${modules[@]}"; do pkgs+=("./$m/..."); done

CHDB_LIB_PATH="$(scripts/libchdb.sh)"
export CHDB_LIB_PATH

echo "== gofmt"
unformatted="$(find . -name '*.go' -not -path './.cache/*' -not -name '*.pb.go' -print0 | xargs -0 gofmt -l)"
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet "${pkgs[@]}"
go vet -tags embedded ./cli/...

echo "== schemas"
scripts/check-schemas.sh

echo "== go test -race"
go test -race -count=1 -timeout 20m "${pkgs[@]}"
