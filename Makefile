# Meshwork. `make help` lists the targets a user wants.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_BIN := node_modules/.bin
BUF := $(NODE_BIN)/buf

.PHONY: fuzz chaos load help deps system-test system-bench system-image run build image manifests network-policies multihost test bench generate proto-check release-api typecheck lint deps-check unit token cert nats-config canary catalogue slo-rules service clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Dependencies install themselves: npm ci when the lock changed, and the
# third-party .proto files copied out of node_modules.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

proto-deps/.copied: node_modules/.installed scripts/proto-deps.sh
	./scripts/proto-deps.sh
	@touch $@

deps: proto-deps/.copied

run: deps ## Start the whole mesh on this machine (embedded default); Ctrl-C stops it
	node --import tsx scripts/run-mesh.ts

build: deps ## Production build in dist/: node dist/services/<name>/main.js runs with npm ci --omit=dev
	node --import tsx scripts/build.ts

image: deps system-image ## OCI image of every process (buildah, from scratch; needs root): prints its size and versions
	./deploy/image/build.sh

multihost: deps system-test ## Only the multi-host test (make test runs it too; podman, the image; as root): kills, partition, latency, rolling restart, NATS node
	node_modules/.bin/mocha --no-config --import=tsx --timeout 600000 --exit test/multihost/multi-host.test.ts

manifests: deps ## Regenerate deploy/kubernetes/base's generated files: network-policies.yaml (the contracts' callers), nats-config.yaml (NATS TLS, subject permissions)
	node --import tsx scripts/kubernetes-manifests.ts

network-policies: manifests ## Same as make manifests

# Debian packages the tests and benchmarks start (scripts/system-packages.txt),
# installed when missing, before anything runs.
system-test:
	@./scripts/system-packages.sh test

system-bench:
	@./scripts/system-packages.sh bench

system-image:
	@./scripts/system-packages.sh image

test: deps system-test proto-check deps-check typecheck lint unit ## Every check and test CI runs (installs the Debian packages it needs)

generate: deps ## Regenerate gen/ from proto/ and test/gen/ from test/proto/ (buf generate)
	$(BUF) generate
	$(BUF) generate --template buf.gen.test.yaml

proto-check: deps ## buf format, lint, breaking against api/released.binpb, and gen/ is fresh
	./scripts/proto-check.sh

release-api: deps ## Record proto/ as the released API (api/released.*) the gate compares with
	./scripts/release-api.sh

typecheck: deps ## TypeScript, strict
	$(NODE_BIN)/tsc --noEmit -p tsconfig.json

lint: deps ## Static checks: ESLint (type-checked and security rules) on mesh/ gateway/ services/ scripts/
	$(NODE_BIN)/eslint --max-warnings 0 mesh gateway services scripts

deps-check: deps ## Dependency checks: lockfile (integrity, lockfile-lint), install scripts and licenses against scripts/dependency-allowlist.json
	node --import tsx scripts/check-dependencies.ts

unit: deps ## mocha: unit tests beside the code and cross-service tests in test/
	./scripts/mocha.sh

bench: deps system-bench ## Benchmarks (ratios within one run, never timed tests); rewrites bench/RESULTS.md
	node --import tsx bench/run-all.ts

canary: deps ## Roll a version out step by step, rolled back on a breach: make canary SERVICE=orders VERSION=canary [WINDOW_S=30]
	@node --import tsx scripts/canary.ts --service "$(SERVICE)" --version "$(VERSION)" $(if $(STABLE),--stable "$(STABLE)") $(if $(WINDOW_S),--window-s "$(WINDOW_S)") $(if $(METRICS),--metrics "$(METRICS)") $(if $(TOKEN),--token "$(TOKEN)")

load: deps ## Load the running mesh (open loop): make load [TARGET=rest|grpc] [STAGES=5s@10..50,20s@50] [URL=...] [OUT=dir] [TLS_DIR=dir]
	@node --import tsx scripts/load.ts --target "$(or $(TARGET),rest)" $(if $(STAGES),--stages "$(STAGES)") $(if $(URL),--url "$(URL)") $(if $(OUT),--out "$(OUT)") $(if $(TLS_DIR),--tls-dir "$(TLS_DIR)")

fuzz: deps ## Fuzz the mesh with generated requests (default 20,000): make fuzz [N=200000] [SEED=...]
	@node --import tsx scripts/fuzz.ts $(if $(N),--runs "$(N)") $(if $(SEED),--seed "$(SEED)")

chaos: deps ## Chaos scenarios under load, with verdicts from the data: make chaos [SCENARIO=kill|slow|flaky|outage|bus|all] [SHORT=1]
	@./scripts/system-packages.sh chaos
	@node --import tsx scripts/chaos.ts --scenario "$(or $(SCENARIO),all)" $(if $(SHORT),--short)

token: deps ## Print a token for the local gateway: make token SUB=alice [SCOPE=meshwork:admin]
	@node --import tsx scripts/token.ts --sub "$(SUB)" $(if $(SCOPE),--scope "$(SCOPE)")

service: deps ## Scaffold a new service: make service NAME=shipping [PUBLIC=1] (routed by the gateway)
	@node --import tsx scripts/new-service.ts --name "$(NAME)" $(if $(PUBLIC),--public)

catalogue: deps ## The service catalogue (services/*/service.yaml), checked against the code: owners, calls, data, SLOs
	@node --import tsx scripts/catalogue.ts

slo-rules: deps ## Regenerate prometheus/slo-rules.yml (recording rules and burn-rate alerts) from the catalogue's SLOs
	node --import tsx scripts/slo-rules.ts

cert: deps ## Issue a certificate from the mesh CA: make cert NAME=alice-operator [KIND=service] [TTL=seconds]
	@node --import tsx scripts/cert.ts --name "$(NAME)" $(if $(KIND),--kind "$(KIND)") $(if $(TTL),--ttl "$(TTL)")

nats-config: deps ## nats-server config for NATS mode (TLS, mesh certificates as credentials, subject permissions): .data/nats/
	@node --import tsx scripts/nats-config.ts $(if $(NATS_PORT),--port "$(NATS_PORT)")

clean: ## Remove local data (.data/), test output and the build (dist/)
	rm -rf .data test-output dist
