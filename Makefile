# The front door: `make run` runs the whole pipeline in one process,
# `make test` runs every check CI runs.
.PHONY: run test generate tidy build e2e-containers

run:
	CHDB_LIB_PATH="$$(scripts/libchdb.sh)" go run -tags embedded ./cli/cmd/picket dev

test:
	scripts/test.sh

# The e2e scenarios on Redpanda and ClickHouse containers (testcontainers-go); each says why it skips without Docker.
e2e-containers:
	CHDB_LIB_PATH="$$(scripts/libchdb.sh)" go test -race -count=1 -v -run '^TestContainers' ./tests/e2e/

# Regenerate the Go code of the event schemas after editing schemas/proto.
generate:
	cd schemas && ../scripts/buf.sh generate

# Regenerate docs/configuration.md after changing a config struct, default or doc comment.
config-docs:
	go test -count=1 -run '^TestConfigurationReferenceIsCurrent$$' ./cli/internal/configref -update

tidy:
	scripts/tidy.sh

# Production binaries, the picket CLI among them (no libchdb needed to run
# them: `picket dev` is in `make run`'s embedded build only), into $(BIN).
BIN ?= bin
build:
	mkdir -p $(BIN)
	go build -o $(BIN)/ ./services/prober/cmd/prober ./services/aggregator/cmd/aggregator \
		./services/notifier/cmd/notifier ./services/query/cmd/query ./cli/cmd/picket
