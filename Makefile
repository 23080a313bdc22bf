# ecs-drainer: every target a developer or CI needs. `make help` lists them.
#
# Tools are pinned here and installed into bin/tools by the Makefile itself, so a fresh clone needs
# only Go (and, for the checks that use them, Debian's packages that .ci/run installs: prometheus,
# prometheus-alertmanager, awscli, chromium, and buildah, podman and runc for the image).

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
BIN           := $(CURDIR)/bin
TOOLS         := $(BIN)/tools
# The version every build is stamped with (README, "Releases"): the latest release tag
# vMAJOR.MINOR.PATCH, plus -N-gHASH past it and -dirty for uncommitted changes; the commit hash
# before the first release. Tags of any other shape never name a build.
VERSION       ?= $(shell git describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --always --dirty 2>/dev/null || echo dev)
REVISION      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS       := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)
IMAGE         ?= ecs-drainer:$(VERSION)

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT         := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)

# End-to-end tests with targets of their own, run verbosely so that CI's log shows what they prove.
IMAGE_TESTS := ^TestImage$$
ALERT_TESTS := ^TestStuckDrainAlertOnRealPrometheus$$

# Fuzz targets run by `make fuzz`, as package:FuzzName.
FUZZ_TARGETS := ./pkg/awssim:FuzzQueryRequest ./pkg/awssim:FuzzJSONRequest ./pkg/awssim:FuzzParseCQL ./pkg/options:FuzzParse ./pkg/events:FuzzParse
FUZZTIME     ?= 30s

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/ecs-drainer and bin/awssim.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ecs-drainer ./cmd/controller
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/awssim ./cmd/awssim

.PHONY: run
run: build ## Run ecs-drainer against the embedded simulator with a live demo fleet (Ctrl-C to stop).
	$(BIN)/ecs-drainer --simulate --http-addr 127.0.0.1:8080

.PHONY: test
test: lint test-unit test-e2e test-alerts test-image ## Everything CI runs: lint, unit, e2e, alert and image tests, config checks.

.PHONY: test-unit
test-unit: ## Unit and package tests with the race detector (includes config/ checks and fuzz seed corpora).
	$(GO) test -race -count=1 ./pkg/... ./cmd/... ./test/config/... ./test/bench/...

.PHONY: test-e2e
test-e2e: ## End-to-end tests: real processes over HTTP (awssim, ecs-drainer, Prometheus, Alertmanager, AWS CLI, moto).
	@# The tests build bin/awssim and bin/ecs-drainer themselves (test/e2e/harness), once per run.
	@# The image and alert delivery tests have their own targets, whose logs show them.
	$(GO) test -count=1 -timeout 15m -skip '$(IMAGE_TESTS)|$(ALERT_TESTS)' ./test/e2e/...

.PHONY: test-alerts
test-alerts: ## The stuck-drain alert end to end: Prometheus with alerts.yml, Alertmanager with config/alertmanager, a webhook.
	$(GO) test -v -count=1 -timeout 5m -run '$(ALERT_TESTS)' ./test/e2e/

.PHONY: drains-page-screenshot
drains-page-screenshot: ## Refresh docs/drains-page.png: the drains page during a demo drain, in headless Chromium.
	DRAINS_PAGE_SCREENSHOT=$(CURDIR)/docs/drains-page.png $(GO) test -count=1 -run '^TestDrainsPageInBrowser$$' ./test/e2e/

.PHONY: test-image
test-image: ## Build the image with buildah and check it under podman: version, CA bundle, non-root, read-only, a drain.
	@# -v: the log shows the build and the drain as they happen.
	$(GO) test -v -count=1 -timeout 15m -run '$(IMAGE_TESTS)' ./test/e2e/

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet, golangci-lint, go mod tidy check.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...
	@# The backups live in this checkout's bin/, so two checkouts linting at once do not share them.
	@mkdir -p $(BIN) && cp go.mod $(BIN)/.go.mod.bak && cp go.sum $(BIN)/.go.sum.bak && $(GO) mod tidy && \
	  if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changed go.mod/go.sum: run it and commit"; git diff -- go.mod go.sum; \
	  cp $(BIN)/.go.mod.bak go.mod; cp $(BIN)/.go.sum.bak go.sum; exit 1; fi

.PHONY: bench
bench: build ## 10,000-instance benchmark: ecs-drainer vs awssim as separate processes; prints a table, writes bench-results/.
	$(GO) run ./test/bench --awssim $(BIN)/awssim --controller $(BIN)/ecs-drainer --out bench-results

.PHONY: soak
soak: build ## Bounded chaos soak (a few minutes): faults, SIGKILL restarts, two replicas.
	$(GO) test -v -count=1 -timeout 20m -run TestSoak ./test/e2e/ -args -soak.long

.PHONY: heartbeat-capacity
heartbeat-capacity: build ## Measure heartbeats per second sustained at several API latencies and --aws-qps (a few minutes).
	$(GO) test -v -count=1 -timeout 30m -run TestHeartbeatCapacity ./test/e2e/ -args -capacity

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name ($$pkg)"; $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; done

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) .

.PHONY: image
image: ## Build the container image with buildah on local stand-in base images; no registry needed (docs/image.md).
	test/image/build.sh $(IMAGE) $(VERSION) $(REVISION)

.PHONY: version
version: ## Print the version and revision that builds are stamped with.
	@echo $(VERSION) $(REVISION)

.PHONY: tools
tools: $(GOLANGCI_LINT) ## Install the pinned tools into bin/tools.

$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@mv $(TOOLS)/golangci-lint $@

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN)/ecs-drainer $(BIN)/awssim bench-results
