#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: formatting, vet, the
# schema checks, staticcheck, then every module's tests with the race detector
# (the dashboard's in headless chromium, installed by scripts/chromium.sh;
# screenshots in $TEST_ARTIFACTS, default ./artifacts), the dashboard's
# first-paint test without it, then a bounded run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=(schemas platform services/prober services/aggregator services/notifier services/query cli tests/e2e)
pkgs=()
for m in "${modules[@]}"; do pkgs+=("./$m/..."); done

CHDB_LIB_PATH="$(scripts/libchdb.sh)"
export CHDB_LIB_PATH
# The dashboard's browser tests need chromium: installed before the compose
# checks start (their promtool install and this one share dpkg's lock).
scripts/chromium.sh
TEST_ARTIFACTS="${TEST_ARTIFACTS:-$PWD/artifacts}"
export TEST_ARTIFACTS

# The compose checks build the docker compose plugin on a fresh machine (a few
# minutes of mostly one core): they run beside the rest and are waited for at
# the end.
compose_log="$(mktemp)"
scripts/check-compose.sh >"$compose_log" 2>&1 &
compose_pid=$!
trap 'kill "$compose_pid" 2>/dev/null || true; rm -f "$compose_log"' EXIT

echo "== gofmt"
unformatted="$(find . -name '*.go' -not -path './.cache/*' -not -name '*.pb.go' -print0 | xargs -0 gofmt -l)"
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi

echo "== goimports"
# -local groups Picket's own imports after the third-party ones.
unimported="$(find . -name '*.go' -not -path './.cache/*' -not -name '*.pb.go' -print0 \
  | xargs -0 scripts/tool.sh goimports -local github.com/picket-dev/picket -l)"
if [ -n "$unimported" ]; then echo "imports not goimports'ed (-local github.com/picket-dev/picket):"; echo "$unimported"; exit 1; fi

echo "== go vet"
go vet "${pkgs[@]}"
go vet -tags embedded ./cli/...

echo "== staticcheck"
scripts/tool.sh staticcheck "${pkgs[@]}"
scripts/tool.sh staticcheck -tags embedded ./cli/...

echo "== schemas"
scripts/check-schemas.sh

echo "== go test -race"
go test -race -count=1 -timeout 20m "${pkgs[@]}"

echo "== dashboard first paint with 10,000 checks (without -race: the goal is the product's, not the race detector's)"
go test -count=1 -run '^TestDashboardFirstPaint' ./services/query/api/

echo "== fuzz (bounded)"
scripts/fuzz.sh

echo "== docker compose (started at the beginning)"
if ! wait "$compose_pid"; then cat "$compose_log"; echo "compose checks failed" >&2; exit 1; fi
cat "$compose_log"
