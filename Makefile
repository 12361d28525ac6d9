# Sluice — see README.md. `make run` and `make test` are the two commands.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build run check test test-deps fmt-check vet cross lint race interop interop-deps bench proto fuzz clean install uninstall

all: build

EXAMPLES := subject-tag rcpt-allowlist autoreply noop webhook

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

## cross: go vet, which compiles the tests too, for a BSD and a 32-bit
## system, where a statfs field or an int constant over 2 GiB breaks the
## build. Not part of check: with a cold build cache it compiles everything
## twice more (5 minutes on two cores; seconds once cached). Other targets
## Sluice builds on: CROSS="openbsd/amd64 netbsd/amd64 darwin/arm64 linux/arm64 linux/arm"
CROSS ?= freebsd/amd64 linux/386
cross:
	@for t in $(CROSS); do echo "GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $(PKGS)"; \
	  GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $(PKGS) || exit 1; done

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
	@scripts/install-deps.sh clamav
	@scripts/install-deps.sh dovecot
	@scripts/install-deps.sh exim
	@scripts/install-deps.sh opensmtpd

## bench: every issue-9 scenario, Sluice vs a loopback Postfix, in one run
## (scripts/bench.sh; its header lists the scenarios and the BENCH_* knobs),
## after the Go benchmarks of the queue, of a plugin call's floor (a bare
## pipe round trip between two processes, and one SDK call) and of 0/1/3/5
## plugin stages: the
## million-message queue group ends bench.sh, and no throughput run should
## start while the disk is still writing that queue back
## (installs postfix and opendkim when missing)
bench: build
	@scripts/install-deps.sh bench
	@scripts/install-deps.sh milters
	$(GO) build -o $(BIN)/smtpload ./internal/cmd/smtpload
	$(GO) build -o $(BIN)/dnsstub ./internal/cmd/dnsstub
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./core/queue/
	$(GO) test -run '^$$' -bench 'PipeRoundTrip|ProcessCall' -benchtime 5000x ./sdk
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

## install: bin/sluice, the mailq symlink, the systemd unit, sysusers.d and
## tmpfiles.d files, and /etc/sluice/sluice.toml only when there is none
## (README, "Running as a service"); DESTDIR stages it all for a package.
## It compiles nothing (make build first), so root needs no Go; it makes no
## /usr/sbin/sendmail, which belongs to the system's MTA.
# bin/, not sbin/: the binary is also the sendmail and mailq any user runs
# (Debian keeps mailq in /usr/bin; maddy installs to bin/ too).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SYSCONFDIR  ?= /etc
# systemd reads units, sysusers.d and tmpfiles.d under /usr/local/lib as
# under /usr/lib, so both default PREFIXes need no other directory.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# install -d resets an existing directory's mode (an operator's 0750
# /etc/sluice): only missing directories are made.
mkdirs = for d in $(1); do [ -d "$$d" ] || { echo "install -d -m 755 $$d"; install -d -m 755 "$$d"; } || exit 1; done

# A mailq that is another MTA's (Postfix's /usr/bin/mailq with PREFIX=/usr)
# belongs to its package: install keeps it, as uninstall does.
install:
	@[ -x $(BIN)/sluice ] || { echo "install: no $(BIN)/sluice: run make build first" >&2; exit 1; }
	@$(call mkdirs,$(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSCONFDIR)/sluice)
	install -m 755 $(BIN)/sluice $(DESTDIR)$(BINDIR)/sluice
	@q=$(DESTDIR)$(BINDIR)/mailq; \
	if { [ ! -e "$$q" ] && [ ! -L "$$q" ]; } || [ "$$(readlink "$$q")" = sluice ]; then echo "ln -sf sluice $$q"; ln -sf sluice "$$q"; \
	else echo "kept $$q, another MTA's: sluice queue list is Sluice's"; fi
	sed -e 's|/usr/local/bin/sluice|$(BINDIR)/sluice|' -e 's|/etc/sluice/|$(SYSCONFDIR)/sluice/|' \
	  dist/systemd/sluice.service > $(DESTDIR)$(UNITDIR)/sluice.service
	chmod 644 $(DESTDIR)$(UNITDIR)/sluice.service
	install -m 644 dist/systemd/sluice.sysusers $(DESTDIR)$(SYSUSERSDIR)/sluice.conf
	install -m 644 dist/systemd/sluice.tmpfiles $(DESTDIR)$(TMPFILESDIR)/sluice.conf
	@conf=$(DESTDIR)$(SYSCONFDIR)/sluice/sluice.toml; \
	if [ -e "$$conf" ] || [ -L "$$conf" ]; then echo "kept $$conf (the example is dist/sluice.toml)"; \
	else echo "install -m 644 dist/sluice.toml $$conf"; install -m 644 dist/sluice.toml "$$conf"; fi

## uninstall: what install added, but the config and the queue
## (/etc/sluice, /var/lib/sluice) and the user sluice
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sluice $(DESTDIR)$(UNITDIR)/sluice.service \
	  $(DESTDIR)$(SYSUSERSDIR)/sluice.conf $(DESTDIR)$(TMPFILESDIR)/sluice.conf
	@if [ "$$(readlink $(DESTDIR)$(BINDIR)/mailq)" = sluice ]; then echo "rm -f $(DESTDIR)$(BINDIR)/mailq"; rm -f $(DESTDIR)$(BINDIR)/mailq; fi
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/sluice and /var/lib/sluice: the config and the queue"

clean:
	rm -rf $(BIN) data
