# publink: `make run` starts the demo; `make test` runs every test.
GO ?= go
BIN := bin

.PHONY: all build run test vet bench xcaddy clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/publink ./cmd/publink
	$(GO) build -o $(BIN)/mediastore ./cmd/mediastore

# Starts mediastore on the demo data and publink with the root Caddyfile on
# the embedded store, creates demo links and prints their share URLs.
run: build
	./scripts/run.sh

# Every test: unit, store contract (real redis-server), end to end (real
# Caddy, mediastore, Chromium). Installs what is missing when run as root.
test:
	./scripts/deps.sh
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

bench:
	./scripts/bench.sh

xcaddy:
	./scripts/xcaddy.sh

clean:
	rm -rf $(BIN) test-artifacts
