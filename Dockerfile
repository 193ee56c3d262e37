# One image per service: docker build --build-arg CMD=services/prober/cmd/prober .
# The binaries talk to a ClickHouse server and never load libchdb.
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
ARG CMD
RUN CGO_ENABLED=0 go build -trimpath -o /out/app ./${CMD}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
