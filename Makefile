# Sluice — see README.md. `make run` and `make test` are the two commands.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build run check test test-deps fmt-check vet lint race interop interop-deps bench proto fuzz clean

all: build

EXAMPLES := subject-tag rcpt-allowlist noop

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/sluice ./cmd/sluice
	@for e in $(EXAMPLES); do echo "$(GO) build -o $(BIN)/$$e ./examples/$$e"; \
	  $(GO) build -o $(BIN)/$$e ./examples/$$e || exit 1; done

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

## lint: staticcheck, when installed (go install honnef.co/go/tools/cmd/staticcheck@latest)
STATICCHECK ?= $(shell command -v staticcheck || echo $(HOME)/go/bin/staticcheck)
lint:
	@if [ -x "$(STATICCHECK)" ]; then echo "$(STATICCHECK) ./..."; $(STATICCHECK) ./...; \
	else echo "staticcheck is not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"; exit 1; fi

race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	cd third_party/go-smtp && $(GO) vet ./... && $(GO) test -race -count=1 ./...

## test: everything CI runs — gofmt, vet, race tests, interop against Debian peers
test: test-deps fmt-check vet race interop

test-deps:
	@scripts/install-deps.sh python
	@scripts/install-deps.sh chromium

## interop: the real-peer tests alone (installs Debian packages when missing)
interop: interop-deps build
	SLUICE_BIN=$(CURDIR)/$(BIN)/sluice $(GO) test -count=1 -tags interop -timeout 10m ./tests/interop/

interop-deps:
	@scripts/install-deps.sh interop
	@scripts/install-deps.sh milters
	@scripts/install-deps.sh dovecot
	@scripts/install-deps.sh exim
	@scripts/install-deps.sh opensmtpd

## bench: every issue-9 scenario, Sluice vs a loopback Postfix, in one run
## (scripts/bench.sh; its header lists the scenarios and the BENCH_* knobs),
## after the Go benchmarks of the queue and of 0/1/3/5 plugin stages: the
## million-message queue group ends bench.sh, and no throughput run should
## start while the disk is still writing that queue back
## (installs postfix and opendkim when missing)
bench: build
	@scripts/install-deps.sh bench
	@scripts/install-deps.sh milters
	$(GO) build -o $(BIN)/smtpload ./internal/cmd/smtpload
	$(GO) build -o $(BIN)/dnsstub ./internal/cmd/dnsstub
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./core/queue/
	timeout -k 10 300 $(GO) test -run '^$$' -bench PipelineStages -benchtime 2000x ./core/daemon | scripts/bench/stages-summary.sh
	scripts/bench.sh

## fuzz: each fuzz target for FUZZTIME (their seeds alone run in make test/check)
FUZZTIME ?= 1m
## (every one in the module: internal/testlib's TestFuzzTargetsListed holds
## this list to the code)
FUZZ_TARGETS := ./core/smtpd:FuzzParseMailbox ./core/smtpd:FuzzSMTPCommands ./core/smtpd:FuzzReadProxyHeader \
                ./core/pipeline:FuzzParseMessage ./core/pipeline:FuzzHeaderEdit \
                ./core/pipeline:FuzzVerdictReply ./core/config:FuzzParse \
                ./core/delivery:FuzzDSNParams ./core/delivery:FuzzServerReplies \
                ./core/delivery:FuzzSTSPolicy ./core/delivery:FuzzASCIIAddr \
                ./core/delivery:FuzzDowngrade8bit ./core/bounce:FuzzBuild \
                ./core/dnsresolve:FuzzTXTBytes ./core/dnsresolve:FuzzAnswers \
                ./core/milter:FuzzEndOfMessageReplies ./core/daemon:FuzzAuthservID \
                ./internal/mimeparam:FuzzParse ./cmd/sluice:FuzzSendmailHeaders \
                ./sdk:FuzzHandEncoding ./sdk:FuzzDecodeCallFrame \
                ./plugins/dmarc:FuzzRecordAndAuthors ./plugins/dkim:FuzzVerify \
                ./plugins/route:FuzzAddrKey ./plugins/route:FuzzAddrSpecs \
                ./plugins/spf:FuzzRecord \
                ./plugins/spf:FuzzReceivedSPF ./plugins/filter:FuzzMIMEWalk \
                ./plugins/filter:FuzzDecodeBase64
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "$(GO) test -run '^$$' -fuzz '^$$fn\$$' -fuzztime $(FUZZTIME) $$pkg"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

## proto: regenerate the plugin protocol stubs (needs protoc, protoc-gen-go,
## protoc-gen-go-grpc; the generated code is committed, so tests never need it)
proto:
	cd sdk/proto/pluginv1 && PATH=$$PATH:$$HOME/go/bin protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
	examples/python-plugin/gen.sh

clean:
	rm -rf $(BIN) data
