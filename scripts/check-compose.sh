#!/usr/bin/env bash
# CI's check of the docker compose deployment on a machine without a Docker
# engine: `docker compose config` validates docker-compose.yml (with the
# defaults and with every documented variable overridden), promtool checks
# the Prometheus configuration and rules and runs the rules' unit tests
# (deploy/prometheus/rules_test.yml) when it is installed. The Go tests
# in cli/internal/deploytest check the rest (configs load with the services'
# loaders, ports, health checks, dashboard SQL on the real schema).
#
# Not checked here: building or running the images (no engine). `docker
# build --check` needs buildx and a BuildKit daemon, neither of which the
# docker client alone has: scripts/dockerfile-lint runs the same BuildKit
# checks in process instead.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== docker compose config (defaults)"
scripts/compose.sh -f docker-compose.yml config -q

echo "== docker compose config (documented variables overridden)"
overrides=(
  BIND_ADDR=0.0.0.0 QUERY_PORT=18080 GRAFANA_PORT=13000 PROMETHEUS_PORT=19090
  KAFKA_PORT=19192 KAFKA_ADVERTISED_HOST=picket.example CLICKHOUSE_PORT=19000 CLICKHOUSE_HTTP_PORT=18123
  DEMO_TARGET_PORT=18081 DEMO_RECEIVER_PORT=18082
  CLICKHOUSE_USER=ops CLICKHOUSE_PASSWORD='s3cr,et' GRAFANA_ADMIN_USER=root GRAFANA_ADMIN_PASSWORD=hunter2
)
rendered="$(env "${overrides[@]}" scripts/compose.sh -f docker-compose.yml config)"
for want in 'published: "18080"' 'published: "13000"' 'published: "19090"' 'published: "19192"' \
  'published: "19000"' 'published: "18123"' 'published: "18081"' 'published: "18082"' 'host_ip: 0.0.0.0' \
  'HOST://picket.example:19192' 'PICKET_CLICKHOUSE__USERNAME: ops' 'PICKET_CLICKHOUSE__PASSWORD: s3cr,et' \
  'GF_SECURITY_ADMIN_PASSWORD: hunter2'; do
  grep -qF -- "$want" <<<"$rendered" || { echo "check-compose: overriding the variables did not give $want" >&2; exit 1; }
done
if grep -q 'host_ip: 127.0.0.1' <<<"$rendered"; then
  echo "check-compose: BIND_ADDR=0.0.0.0 left a port bound to 127.0.0.1" >&2; exit 1
fi

echo "== Dockerfile checks (the rules of docker build --check, without a daemon) and the build context size"
lint="$PWD/.cache/bin/dockerfile-lint"
if [ ! -x "$lint" ] || [ -n "$(find scripts/dockerfile-lint -newer "$lint" -type f)" ]; then
  mkdir -p .cache/bin
  (cd scripts/dockerfile-lint && GOWORK=off go build -o "$lint.partial" .) && mv "$lint.partial" "$lint"
fi
"$lint" -context . -max-context-mb 20 Dockerfile

echo "== the images' binaries: the Dockerfile's own go build, static (CGO_ENABLED=0), outside Docker"
# The package list is read from the Dockerfile, so the two cannot drift; a
# production binary that needs cgo (libchdb) fails here.
pkgs="$(sed -n '/go build -trimpath/,/&& mkdir/p' Dockerfile | grep -o '\./[^ ]*')"
[ -n "$pkgs" ] || { echo "check-compose: no go build packages found in the Dockerfile" >&2; exit 1; }
bin_dir="$(mktemp -d)"
# shellcheck disable=SC2086 # one package per word
CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w" -o "$bin_dir/" $pkgs
for p in $pkgs; do
  [ -x "$bin_dir/$(basename "$p")" ] || { echo "check-compose: $p built no $(basename "$p")" >&2; exit 1; }
done
# COPY --from=build names each of them.
for b in $(grep -o 'COPY --from=build /out/[^ ]*' Dockerfile | sed 's|.*/out/||' | sort -u); do
  [ -x "$bin_dir/$b" ] || { echo "check-compose: the Dockerfile copies /out/$b, which its go build does not make" >&2; exit 1; }
done
echo "built: $(cd "$bin_dir" && ls | tr '\n' ' ')"
rm -rf "$bin_dir"

echo "== prometheus config and rules"
# promtool comes with Debian's prometheus package (22 MB download): installed
# once per machine where the script may (root with apt-get), as on CI.
if ! command -v promtool >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "check-compose: installing promtool (apt-get install prometheus)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
fi
if command -v promtool >/dev/null; then
  promtool check config deploy/prometheus/prometheus.yml
  promtool test rules deploy/prometheus/rules_test.yml
else
  echo "check-compose: SKIPPED the Prometheus checks: no promtool (apt-get install prometheus); cli/internal/deploytest still checks the metric names" >&2
fi
