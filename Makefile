# The front door: `make run` runs the whole pipeline in one process,
# `make test` runs every check CI runs.
.PHONY: run test generate tidy build

run:
	CHDB_LIB_PATH="$$(scripts/libchdb.sh)" go run -tags embedded ./cli/cmd/picket dev

test:
	scripts/test.sh

# Regenerate the Go code of the event schemas after editing schemas/proto.
generate:
	cd schemas && ../scripts/buf.sh generate

tidy:
	scripts/tidy.sh

# Production binaries, the picket CLI among them (no libchdb needed to run
# them: `picket dev` is in `make run`'s embedded build only), into $(BIN).
BIN ?= bin
build:
	mkdir -p $(BIN)
	go build -o $(BIN)/ ./services/prober/cmd/prober ./services/aggregator/cmd/aggregator \
		./services/notifier/cmd/notifier ./services/query/cmd/query ./cli/cmd/picket
