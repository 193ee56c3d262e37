# syntax=docker/dockerfile:1
# Picket's images, one multi-stage build: every binary is compiled once, in
# one `go build` of the workspace, and each service gets its own small image
# (a target per binary) on a distroless, non-root base with no shell.
#
#   docker build --target prober -t picket-prober .     (or aggregator,
#   notifier, query, picket, demo; docker compose builds them all)
#
# The binaries are static (CGO_ENABLED=0) and talk to a ClickHouse server:
# none of them loads libchdb (`picket dev` exists only in the embedded build).
# Each image also carries picket-healthcheck, because distroless has no curl
# or wget for a HEALTHCHECK.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
# go.work names every module, so the whole (small, see .dockerignore) tree
# is the build input; the cache mounts keep modules and objects across builds.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags="-s -w" -o /out/ \
      ./services/prober/cmd/prober ./services/aggregator/cmd/aggregator \
      ./services/notifier/cmd/notifier ./services/query/cmd/query \
      ./cli/cmd/picket ./cli/cmd/picket-demo ./cli/cmd/picket-healthcheck \
 && mkdir -p /state/spool

FROM ${BASE_IMAGE} AS base
COPY --from=build /out/picket-healthcheck /usr/local/bin/picket-healthcheck
USER nonroot:nonroot

FROM base AS prober
# The spool directory exists in the image, owned by nonroot, so that a fresh
# named volume mounted on it starts with that owner.
COPY --from=build --chown=65532:65532 /state/spool /var/lib/picket/spool
COPY --from=build /out/prober /usr/local/bin/prober
EXPOSE 9101
ENTRYPOINT ["/usr/local/bin/prober"]
CMD ["--set", "outbox.dir=/var/lib/picket/spool"]

FROM base AS aggregator
COPY --from=build /out/aggregator /usr/local/bin/aggregator
EXPOSE 9102
ENTRYPOINT ["/usr/local/bin/aggregator"]

FROM base AS notifier
COPY --from=build /out/notifier /usr/local/bin/notifier
EXPOSE 9103
ENTRYPOINT ["/usr/local/bin/notifier"]

FROM base AS query
COPY --from=build /out/query /usr/local/bin/query
EXPOSE 8080 9104
ENTRYPOINT ["/usr/local/bin/query"]

FROM base AS demo
COPY --from=build /out/picket-demo /usr/local/bin/picket-demo
EXPOSE 8081 8082
ENTRYPOINT ["/usr/local/bin/picket-demo"]

# The CLI (migrate, apply, replay, backtest against a server) is the default
# target; compose's init steps run it.
FROM base AS picket
COPY --from=build /out/picket /usr/local/bin/picket
ENTRYPOINT ["/usr/local/bin/picket"]
