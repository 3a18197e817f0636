# The commands the README names. `make test` needs nothing installed but Go:
# integration/pair.sh installs mariadb-server from Debian's packages when
# missing, the client tests their languages' packages (the README lists them).
SHELL := /bin/bash
GO ?= go
PAIR_DIR ?= $(CURDIR)/.pair
BIN := bin/fwdproxy

# Every fuzz target, package:Name; `make fuzz` runs each for FUZZTIME (1m).
FUZZ_TARGETS := accounts:FuzzParseMariaDB accounts:FuzzMatchHost sqlclass:FuzzClassify sqlclass:FuzzSplit route:FuzzDecide \
	consistency:FuzzOwnGTID consistency:FuzzMySQLSet consistency:FuzzMariaDBSet consistency:FuzzParseToken consistency:FuzzLost \
	readers:FuzzPick proxy:FuzzClientCommands proxy:FuzzReadResult proxy:FuzzParseGreeting \
	proxy/wire:FuzzParseOK proxy/wire:FuzzRelay proxy/wire:FuzzReadPacket \
	proxy/proxyproto:FuzzRead capture:FuzzReader capture:FuzzSession

.PHONY: build test test-lists unit integration demo fuzz vet clean soak soak-consistency bench bench-smoke bench-pooled image-test

build:
	$(GO) build -o $(BIN) ./cmd/fwdproxy

vet:
	$(GO) vet ./...

# Unit tests, then every test that needs servers: the shared MariaDB pair
# (stopped again however the tests end) plus the packages that start private
# pairs or a sandbox (lag, failure, doctor's broken setups, cmd/fwdproxy,
# sandbox), then a short benchmark run. Those run after pair.sh start, which
# installs mariadb-server, and with FWDPROXY_PAIR_ENV set, so none of their
# tests skips for want of a server.
# Packages whose tests need no server, and those that run after the pair
# starts; test-lists fails when a package with tests is in neither.
UNIT_PKGS := ./accounts/ ./sqlclass/ ./route/ ./grants/ ./proxy/wire/ ./proxy/proxyproto/ ./proxy/internal/... ./metrics/ ./lint/ ./deploy/ ./readers/ ./writers/ ./digest/ ./faults/ ./capture/ ./replay/ ./exposure/
SERVER_PKGS := ./cmd/... ./sandbox/ ./consistency/ ./proxy/ ./doctor/ ./integration/...

test-lists:
	@missing=$$(comm -23 <($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | sort) \
		<($(GO) list $(UNIT_PKGS) $(SERVER_PKGS) | sort)); \
	if [ -n "$$missing" ]; then echo "packages with tests that make test does not run:"; echo "$$missing"; exit 1; fi

# helm, for the chart's test (deploy/helm_test.go), built from the Go module proxy.
HELM_VERSION := v4.3.2
bin/tools/helm:
	GOBIN=$(CURDIR)/bin/tools $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

test: build vet test-lists bin/tools/helm
	$(GO) test -count=1 $(UNIT_PKGS)
	@bash integration/pair.sh stop $(PAIR_DIR) >/dev/null 2>&1 || true
	bash integration/pair.sh start $(PAIR_DIR)
	@set -o pipefail; trap 'bash integration/pair.sh stop $(PAIR_DIR) >/dev/null 2>&1' EXIT; \
	FWDPROXY_PAIR_ENV=$(PAIR_DIR)/pair.env FWDPROXY_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -p 1 -timeout 30m $(SERVER_PKGS) && \
	FWDPROXY_PAIR_ENV=$(PAIR_DIR)/pair.env FWDPROXY_BIN=$(CURDIR)/$(BIN) bash bench/run.sh smoke

unit:
	$(GO) test -count=1 -short $(UNIT_PKGS) ./consistency/ ./cmd/... ./proxy/ ./sandbox/

# 1,000 sessions for 5 minutes through a -race build of the proxy, against a
# private pair sized for them (integration/soak; FWDPROXY_SOAK_SESSIONS and
# FWDPROXY_SOAK_DURATION change the size). Not part of `make test`.
SOAK_PAIR_DIR ?= $(CURDIR)/.soak-pair
soak:
	$(GO) build -race -o bin/fwdproxy-race ./cmd/fwdproxy
	@bash integration/pair.sh stop $(SOAK_PAIR_DIR) >/dev/null 2>&1 || true
	PAIR_WRITER_EXTRA_CNF=max_connections=2000 PAIR_REPLICA_EXTRA_CNF=max_connections=2000 \
		bash integration/pair.sh start $(SOAK_PAIR_DIR)
	@trap 'bash integration/pair.sh stop $(SOAK_PAIR_DIR) >/dev/null 2>&1' EXIT; \
	FWDPROXY_SOAK=1 FWDPROXY_PAIR_ENV=$(SOAK_PAIR_DIR)/pair.env FWDPROXY_SOAK_BIN=$(CURDIR)/bin/fwdproxy-race \
		$(GO) test -count=1 -v -timeout 30m -run TestSoak ./integration/soak/

# 10,000 read-after-write trials per lag level (about 5 minutes), and per
# session scope through a pool of 20 connections (about 10 minutes); then
# 10,000 rounds over three readers of 0, 50 and 200 ms lag while one stops
# replicating, one is killed and one restarted (integration/readers, about
# 15 minutes; make test runs 300).
soak-consistency:
	FWDPROXY_SOAK_TRIALS=10000 $(GO) test -count=1 -timeout 30m -v -run 'TestReadAfterWriteUnderLag|TestPoolReadYourWrites' ./integration/lag/
	FWDPROXY_SOAK_TRIALS=10000 $(GO) test -count=1 -timeout 60m -v -run 'TestFreshReadsWhileReadersComeAndGo' ./integration/readers/

# sysbench and memory, direct vs through the proxy; writes docs/benchmarks.md.
# Then a reader endpoint of 3 replicas (its own pair; the section "Several
# readers"), and the pooled read-after-write benchmark (POOLED_TRIALS per
# way, 2,000).
POOLED_TRIALS ?= 2000
bench: build
	FWDPROXY_BIN=$(CURDIR)/$(BIN) bash bench/run.sh
	FWDPROXY_BIN=$(CURDIR)/$(BIN) bash bench/run.sh readers
	$(MAKE) bench-pooled

# Read-after-write through a pool of 20 connections at 50 ms of lag: SESSION
# per connection, SESSION at the user scope, causal tokens and GLOBAL
# (integration/lag BenchmarkPooledReadAfterWrite, a private pair).
bench-pooled:
	POOLED_TRIALS=$(POOLED_TRIALS) bash bench/pooled.sh

bench-smoke: build
	FWDPROXY_BIN=$(CURDIR)/$(BIN) bash bench/run.sh smoke

# Build the image with the Dockerfile (podman, stand-ins for its base images) and run it against a
# MariaDB pair: deploy/image-test.sh. Not part of `make test`: it needs root, installs podman,
# runc and debootstrap, downloads a Debian rootfs and every module, and takes minutes.
image-test:
	bash deploy/image-test.sh

# Start a MariaDB writer, a replica 250 ms behind it and fwdproxy in front
# (fwdproxy sandbox, docs/sandbox.md); Ctrl-C stops everything.
demo: build
	@PATH="$$PATH:/usr/sbin:/sbin"; command -v mariadbd >/dev/null || { \
		sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y mariadb-server mariadb-client && \
		{ $$sudo systemctl stop mariadb 2>/dev/null || $$sudo service mariadb stop 2>/dev/null || true; }; }
	@$(BIN) sandbox up --lag 250ms || exit 1; \
	trap '$(BIN) sandbox down' EXIT; trap 'exit 130' INT TERM HUP; \
	echo "Press Ctrl-C to stop the writer, the replica and the proxy."; sleep infinity

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} ($${t%%:*})"; \
		$(GO) test -run=NONE -fuzz="^$${t#*:}\$$" -fuzztime=$${FUZZTIME:-1m} ./$${t%%:*}/; \
	done

clean:
	rm -rf bin .pair .soak-pair
