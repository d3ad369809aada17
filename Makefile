# Builds, tests and publishes the james-in-a-box image with jib-image.
#
#   make            same as `make image`
#   make image      build the image from spec/jib.toml and push it to $(IMAGE)
#   make smoke      pull $(IMAGE) with podman and check that it works
#   make test       every test (unit and behaviour)
#
# REGISTRY and TAG choose where the image goes; with the default REGISTRY a
# local registry is started on it when none answers there. PLATFORMS (Debian
# architecture names, default "amd64 arm64") chooses which of the spec's
# platforms to build; a foreign one runs mmdebstrap under qemu-user.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := image

REGISTRY ?= 127.0.0.1:5000
TAG ?= latest
# Extra flags for `jib-image build`, such as --insecure, --ca-cert FILE or
# --username NAME --password-stdin for a registry that needs them.
JIB_FLAGS ?=
IMAGE := $(REGISTRY)/james-in-a-box:$(TAG)
LOCAL_REGISTRY := 127.0.0.1:5000
SUITE ?= bookworm

PLATFORMS ?= amd64 arm64
HOST_ARCH := $(shell dpkg --print-architecture)
FOREIGN := $(filter-out $(HOST_ARCH),$(PLATFORMS))

CARGO ?= cargo
# layers/entrypoint.toml takes the shims from target/: keep cargo's output
# there whatever the user's environment says.
export CARGO_TARGET_DIR := $(CURDIR)/target
MUSL := x86_64-unknown-linux-musl
rust_target = $(if $(filter arm64,$(1)),aarch64,x86_64)-unknown-linux-musl
RUST_TARGETS := $(foreach p,$(PLATFORMS),$(call rust_target,$(p)))
JIB := target/release/jib-image
PLATFORM_FLAGS := $(foreach p,$(PLATFORMS),--platform linux/$(p))
REGISTRY_DIR := build/registry

# Debian packages each step needs. jib-image reads the npm registry from the
# user's npm configuration, which `npm config` completes; Debian's npm is
# installed only when there is no npm at all (a separately installed Node.js
# must not be replaced).
NPM_PACKAGE := $(if $(shell command -v npm),,npm)
BUILD_PACKAGES := ca-certificates curl git gcc libc6-dev pkg-config $(NPM_PACKAGE)
# mmdebstrap only recommends arch-test, and podman catatonit (its --init),
# and deps.sh installs no recommendations: both are named here.
EMULATION_PACKAGES := $(if $(FOREIGN),qemu-user-static binfmt-support arch-test)
BASE_PACKAGES := mmdebstrap debian-archive-keyring $(EMULATION_PACKAGES)
REGISTRY_PACKAGES := docker-registry curl
SMOKE_PACKAGES := podman runc uidmap catatonit $(EMULATION_PACKAGES)
BENCH_PACKAGES := buildah podman runc uidmap skopeo pigz time docker-registry python3
TEST_PACKAGES := $(BUILD_PACKAGES) $(BASE_PACKAGES) $(REGISTRY_PACKAGES) $(SMOKE_PACKAGES) \
	skopeo umoci oci-image-tool apache2-utils

.PHONY: image test base registry registry-stop smoke shim build deps clean bench

image: deps build shim base registry
	@mkdir -p build
	$(JIB) build spec/jib.toml $(PLATFORM_FLAGS) $(JIB_FLAGS) --push $(IMAGE) \
		--digest-file build/image.digest >/dev/null
	@echo "pushed $(IMAGE)@$$(cat build/image.digest)"

deps:
	@scripts/deps.sh $(BUILD_PACKAGES) $(BASE_PACKAGES) \
		$(if $(filter $(LOCAL_REGISTRY),$(REGISTRY)),$(REGISTRY_PACKAGES))
	@scripts/targets.sh $(RUST_TARGETS)

build:
	$(CARGO) build --release --locked --bin jib-image

# The static entrypoint shim for each platform: std and libc only, no
# builder code; the aarch64 one links with rust-lld (.cargo/config.toml).
shim:
	@scripts/targets.sh $(RUST_TARGETS) $(MUSL)
	$(CARGO) build --locked --profile shim $(foreach t,$(sort $(RUST_TARGETS) $(MUSL)),--target $(t)) \
		--no-default-features --bin jib-entrypoint

# The Debian rootfs, cached per package list in the user's cache directory;
# cheap when the cached tarball exists.
base:
	@scripts/deps.sh $(BASE_PACKAGES)
	@$(if $(FOREIGN),scripts/binfmt.sh $(FOREIGN))
	@for arch in $(PLATFORMS); do \
		ARCH=$$arch scripts/base.sh $(SUITE) spec/base-packages.txt build/base-$$arch.tar >/dev/null; \
		echo "base: build/base-$$arch.tar -> $$(readlink build/base-$$arch.tar)"; \
	done

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
	@$(if $(FOREIGN),scripts/binfmt.sh $(FOREIGN))
	@for arch in $(PLATFORMS); do scripts/smoke.sh $(IMAGE) $$arch; done

# The behaviour tests run the static shim in containers, so it is built
# first; `--all-targets` takes in tests/it as well as the unit tests.
# arm64 emulation is turned on when we may (as root); without it the arm64
# tests skip, or fail when CI is set.
test: shim
	@scripts/deps.sh $(TEST_PACKAGES)
	-@$(if $(FOREIGN),scripts/binfmt.sh $(FOREIGN))
	$(CARGO) test --locked --all-targets

# Side-by-side benchmarks against buildah, skopeo, pigz and gzip, on the
# image's own inputs; writes bench/RESULTS.md.
bench: deps build shim base
	@scripts/deps.sh $(BENCH_PACKAGES)
	bench/run.sh

clean: registry-stop
	rm -rf build
	$(CARGO) clean
