# Sluice — see README.md. `make run` and `make test` are the two commands.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build run check test fmt-check vet race interop interop-deps bench clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/sluice ./cmd/sluice

## run: build and start Sluice on the embedded default config
run: build
	./$(BIN)/sluice serve

## check: the Go-only tests, for quick iteration
check: fmt-check vet
	$(GO) test -count=1 $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## test: everything CI runs — gofmt, vet, race tests, interop against Debian peers
test: fmt-check vet race interop

## interop: the real-peer tests alone (installs Debian packages when missing)
interop: interop-deps build
	SLUICE_BIN=$(CURDIR)/$(BIN)/sluice $(GO) test -count=1 -tags interop -timeout 10m ./tests/interop/

interop-deps:
	@scripts/install-deps.sh interop

## bench: Sluice against Postfix on this machine (installs postfix when missing)
bench: build
	@scripts/install-deps.sh bench
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./core/queue/
	scripts/bench.sh

clean:
	rm -rf $(BIN) data
