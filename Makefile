# Baton — build, run and check. `make` (or `make help`) lists the targets.

# Never let the go command download another toolchain: go.mod's go line is
# the toolchain this repository is built and tested with.
export GOTOOLCHAIN := local
# Pure Go: the SQLite mirror and the embedded Temporal server use the
# modernc driver; cgo would only slow builds and tie binaries to libc.
export CGO_ENABLED := 0
# Tests that need MySQL/MariaDB read it (skipped when unset); `make test
# BATON_TEST_MYSQL_DSN=...` passes it on as well as the environment does.
ifdef BATON_TEST_MYSQL_DSN
export BATON_TEST_MYSQL_DSN
endif

GO        ?= go
BIN       := $(CURDIR)/bin
BATON     := $(BIN)/baton
PKGS      ?= ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Tool versions: golangci-lint v2 built with this repository's Go, and
# Temporal's determinism checker for workflow code.
GOLANGCI_LINT_VERSION := v2.15.0
WORKFLOWCHECK_VERSION := v0.6.0
GOLANGCI_LINT := $(BIN)/golangci-lint
WORKFLOWCHECK := $(BIN)/workflowcheck

BENCH_DIR := internal/bench/cmd

.DEFAULT_GOAL := help
.PHONY: help build release dev test test-faults test-web web lint lint-tools bench bench-console bench-load fmt clean record-histories

help: ## List the targets
	@echo "Baton make targets:"
	@grep -hE '^[a-zA-Z0-9_.-]+:.*?## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

build: ## Build the baton binary into bin/baton (with debug info, for dlv and stack traces with symbols)
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BATON) ./cmd/baton

release: ## Build a stripped release binary (-s -w, -trimpath) into bin/baton
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BATON) ./cmd/baton

dev: build ## Run everything in one process (embedded Temporal, UI, API, worker); prints URLs and the admin token
	$(BATON) dev

test: ## Run all tests (go test ./... -count=1 -timeout 40m -p 2); MySQL tests need BATON_TEST_MYSQL_DSN
	$(GO) test $(PKGS) -count=1 -timeout 40m -p 2

test-faults: ## Run the fault-injection suite (kill/stop workers, restart Temporal, MariaDB and the API; docs/reliability.md)
	$(GO) test -tags faults ./internal/itest/ -run '^TestFault' -count=1 -timeout 30m -v

web: ## Rebuild the console bundle (web/dist, committed and embedded) from the lockfile
	cd web && npm ci && npm run build

test-web: ## Browser tests of the console: rebuild it, then headless chromium against a real baton dev (Node 20, /usr/bin/chromium)
	cd web && ( [ -d node_modules ] || npm ci ) && npm run e2e

record-histories: ## Re-record workflows/testdata histories from real runs (only for a deliberate, versioned change)
	BATON_RECORD_HISTORIES=$(CURDIR)/workflows/testdata $(GO) test ./internal/itest/ -run 'TestRecordedHistoriesReplay|TestScheduleOverlapAndPauseOnFailure|TestBackfillParallelLimitAndRetryOfFailedDates' -count=1 -v

lint-tools: ## Install golangci-lint and workflowcheck into bin/ if missing
	@mkdir -p $(BIN)
	@if ! [ -x "$(GOLANGCI_LINT)" ] || ! "$(GOLANGCI_LINT)" version 2>/dev/null | grep -q "$(GOLANGCI_LINT_VERSION:v%=%)"; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into bin/"; \
		GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi
	@if ! [ -x "$(WORKFLOWCHECK)" ]; then \
		echo "installing workflowcheck $(WORKFLOWCHECK_VERSION) into bin/"; \
		GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION); \
	fi

lint: lint-tools ## Run golangci-lint (.golangci.yml) and workflowcheck on workflows/
	@status=0; \
	echo "golangci-lint run $(PKGS)"; $(GOLANGCI_LINT) run $(PKGS) || status=1; \
	echo "workflowcheck ./workflows/..."; $(WORKFLOWCHECK) ./workflows/... || status=1; \
	exit $$status

bench: ## Run the interpreter-vs-hand-written-workflow benchmark (go run ./internal/bench/cmd); ARGS="-shapes chain-100 -alerts" adds alert rules
	@if [ -d "$(BENCH_DIR)" ]; then \
		$(GO) run ./$(BENCH_DIR) $(ARGS); \
	else \
		echo "make bench: $(BENCH_DIR) does not exist yet (the benchmark is not written); nothing to run."; \
	fi

bench-console: ## Time the console's queries over a year of records on MariaDB (BATON_BENCH_MYSQL_DSN or BATON_TEST_MYSQL_DSN) and SQLite; ARGS=-force regenerates
	$(GO) run ./internal/benchconsole/cmd $(ARGS)

bench-load: build ## Load a real baton dev: 200 concurrent 20-node flow runs with control operations; checks nothing is lost (ARGS=-duration 30m for the soak)
	$(GO) run ./internal/benchload/cmd -bin $(BATON) $(ARGS)

fmt: ## Format the Go code (gofmt -s)
	gofmt -s -w $$(find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path './.baton/*' -not -path '*/node_modules/*' -not -path '*/testdata/*')

clean: ## Remove build output (bin/); leaves .baton/ dev state alone
	rm -rf $(BIN)
