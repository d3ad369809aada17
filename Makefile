# Builds, tests and publishes the james-in-a-box image with jib-image.
#
#   make            same as `make image`
#   make image      build the image from spec/jib.toml and push it to $(IMAGE)
#   make smoke      pull $(IMAGE) with podman and check that it works
#   make test       every test (unit and behaviour)
#
# REGISTRY and TAG choose where the image goes; with the default REGISTRY a
# local registry is started on it when none answers there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := image

REGISTRY ?= 127.0.0.1:5000
TAG ?= latest
IMAGE := $(REGISTRY)/james-in-a-box:$(TAG)
LOCAL_REGISTRY := 127.0.0.1:5000
SUITE ?= bookworm

CARGO ?= cargo
MUSL := x86_64-unknown-linux-musl
JIB := target/release/jib-image
SHIM := target/$(MUSL)/shim/jib-entrypoint
BASE := build/base-amd64.tar
REGISTRY_DIR := build/registry

# Debian packages each step needs. jib-image reads the npm registry from the
# user's npm configuration, which `npm config` completes; Debian's npm is
# installed only when there is no npm at all (a separately installed Node.js
# must not be replaced).
NPM_PACKAGE := $(if $(shell command -v npm),,npm)
BUILD_PACKAGES := ca-certificates curl git gcc libc6-dev pkg-config $(NPM_PACKAGE)
BASE_PACKAGES := mmdebstrap debian-archive-keyring
REGISTRY_PACKAGES := docker-registry curl
SMOKE_PACKAGES := podman runc uidmap
TEST_PACKAGES := $(BUILD_PACKAGES) $(BASE_PACKAGES) $(REGISTRY_PACKAGES) $(SMOKE_PACKAGES) \
	skopeo umoci apache2-utils

.PHONY: image test base registry registry-stop smoke shim build deps clean

image: deps build shim base registry
	@mkdir -p build
	$(JIB) build spec/jib.toml --push $(IMAGE) --digest-file build/image.digest >/dev/null
	@echo "pushed $(IMAGE)@$$(cat build/image.digest)"

deps:
	@scripts/deps.sh $(BUILD_PACKAGES) $(BASE_PACKAGES) $(REGISTRY_PACKAGES)
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)

build:
	$(CARGO) build --release --locked --bin jib-image

# The static entrypoint shim: std and libc only, no builder code.
shim:
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)
	$(CARGO) build --locked --profile shim --target $(MUSL) --no-default-features \
		--bin jib-entrypoint

# The Debian rootfs, cached per package list in the user's cache directory;
# cheap when the cached tarball exists.
base:
	@scripts/deps.sh $(BASE_PACKAGES)
	@scripts/base.sh $(SUITE) spec/base-packages.txt $(BASE) >/dev/null
	@echo "base: $(BASE) -> $$(readlink $(BASE))"

registry:
ifeq ($(REGISTRY),$(LOCAL_REGISTRY))
	@scripts/deps.sh $(REGISTRY_PACKAGES)
	@scripts/registry.sh start $(LOCAL_REGISTRY) $(REGISTRY_DIR)
else
	@echo "registry: using $(REGISTRY)"
endif

registry-stop:
	@scripts/registry.sh stop $(REGISTRY_DIR)

smoke:
	@scripts/deps.sh $(SMOKE_PACKAGES)
	scripts/smoke.sh $(IMAGE)

# The behaviour tests run the static shim in containers, so it is built
# first; `--all-targets` takes in tests/it as well as the unit tests.
test: shim
	@scripts/deps.sh $(TEST_PACKAGES)
	$(CARGO) test --locked --all-targets

clean: registry-stop
	rm -rf build
	$(CARGO) clean
