# The commands the README names. `make test` needs nothing installed but Go:
# integration/pair.sh installs mariadb-server from Debian's packages when missing.
SHELL := /bin/bash
GO ?= go
PAIR_DIR ?= $(CURDIR)/.pair
BIN := bin/fwdproxy

.PHONY: build test unit integration demo fuzz vet clean soak-consistency bench

build:
	$(GO) build -o $(BIN) ./cmd/fwdproxy

vet:
	$(GO) vet ./...

# Unit tests, then every integration test against one shared MariaDB pair,
# which is stopped again however the tests end.
test: build vet
	$(GO) test -count=1 ./sqlclass/ ./consistency/ ./metrics/ ./cmd/...
	@bash integration/pair.sh stop $(PAIR_DIR) >/dev/null 2>&1 || true
	bash integration/pair.sh start $(PAIR_DIR)
	@set -o pipefail; trap 'bash integration/pair.sh stop $(PAIR_DIR) >/dev/null 2>&1' EXIT; \
	FWDPROXY_PAIR_ENV=$(PAIR_DIR)/pair.env FWDPROXY_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -p 1 -timeout 15m ./proxy/ ./integration/...

unit:
	$(GO) test -count=1 ./sqlclass/ ./consistency/ ./metrics/ ./cmd/...

# Start a writer, a replica and fwdproxy in front; Ctrl-C stops everything.
demo: build
	@bash integration/demo.sh $(CURDIR)/$(BIN)

fuzz:
	$(GO) test -run=NONE -fuzz=FuzzClassify -fuzztime=$${FUZZTIME:-5m} ./sqlclass/

clean:
	rm -rf bin .pair
