#!/usr/bin/env bash
# Runs `docker compose "$@"`. When the machine's docker client has no compose
# plugin (as on the development and CI machines here), it builds the pinned
# github.com/docker/compose/v2 once per machine from the Go module proxy into
# .cache/docker/cli-plugins and points DOCKER_CONFIG at .cache/docker, so the
# user's ~/.docker is never touched. `go install …/cmd@version` refuses the
# module (its go.mod has exclude directives), so the build runs inside the
# downloaded module directory instead. Cold, this takes several minutes; see
# the README's docker compose section for the measured time.
#
# Validating a compose file (`config`) needs no Docker engine; `up` does.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=v2.40.3

# A working plugin of the user's own wins: it may carry credential helpers and
# contexts that a DOCKER_CONFIG of ours would hide. BUILD_COMPOSE_PLUGIN=1
# uses the pinned plugin anyway (the variable is not PICKET_…: the picket
# commands would read that as a configuration key).
if [ -z "${BUILD_COMPOSE_PLUGIN:-}" ] && docker compose version >/dev/null 2>&1; then
  exec docker compose "$@"
fi

config="$root/.cache/docker"
plugin="$config/cli-plugins/docker-compose"
if [ ! -x "$plugin" ] || ! DOCKER_CONFIG="$config" docker compose version 2>/dev/null | grep -q "$version"; then
  command -v go >/dev/null || { echo "compose: go is needed to build the docker compose plugin $version" >&2; exit 1; }
  echo "compose: building the docker compose plugin $version from the Go module proxy (once per machine, several minutes)" >&2
  start=$(date +%s)
  dir="$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$version" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir" ] || { echo "compose: go mod download github.com/docker/compose/v2@$version gave no module directory" >&2; exit 1; }
  mkdir -p "$config/cli-plugins"
  (cd "$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$version" \
    -o "$plugin.partial" ./cmd)
  mv "$plugin.partial" "$plugin"
  echo "compose: plugin built in $(( $(date +%s) - start )) s: $plugin" >&2
fi
DOCKER_CONFIG="$config" exec docker compose "$@"
