#!/usr/bin/env bash
# Side-by-side benchmarks of jib-image against buildah, skopeo, pigz and gzip
# on the same machine and the same inputs, in one run. Writes
# bench/RESULTS.md with medians of BENCH_RUNS runs and the ratios.
#
# Inputs: the jib image's own inputs (base rootfs tarball, the Claude Code
# binary from the npm cache, the docs, the static shim), as `make image`
# prepares them. Run through `make bench`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
runs=${BENCH_RUNS:-3}
jib="$repo/target/release/jib-image"
spec="$repo/spec/jib.toml"
work=$(mktemp -d /var/tmp/jib-bench.XXXXXX)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/jib-image"

cleanup() {
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'bench: %s\n' "$*" >&2; }

# --- registries of our own on free loopback ports ---------------------------
# Every measured push goes to a fresh, empty registry: clients that remember
# where blobs live (ours, and containers/image's blob-info cache) could
# otherwise mount them from an earlier run instead of uploading.
registry_pids=()
fresh_registry() {
  local port dir
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dir="$work/registry-$port"
  mkdir -p "$dir"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  registry_pids+=($!)
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  reg="127.0.0.1:$port"
}

# --- podman/buildah settings that work on this kind of machine --------------
printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
buildah_root="$work/buildah"
buildah_flags=(--storage-driver vfs --root "$buildah_root/root" --runroot "$buildah_root/run")

# --- the shared inputs -------------------------------------------------------
say "preparing inputs"
"$jib" build "$spec" --platform linux/amd64 -q --cache-dir "$cache" -o "oci:$work/warmup" >/dev/null
claude=$(find "$cache/npm/packages" -type f -name claude -size +100M | head -n 1)
base=$(readlink -f "$repo/build/base-amd64.tar")
ctx="$work/context"
mkdir -p "$ctx/agent-tmp"
cp "$base" "$ctx/base.tar"
cp "$claude" "$ctx/claude"
cp -r "$repo/docs/claude-commands" "$ctx/claude-commands"
cp -r "$repo/docs/claude-rules" "$ctx/claude-rules"
cp "$repo/target/x86_64-unknown-linux-musl/shim/jib-entrypoint" "$ctx/jib-entrypoint"
tar -cf "$work/big.tar" -C "$(dirname "$claude")" claude

# A cache that holds the downloads but no layers: a "cold" build.
fresh_cache() {
  rm -rf "$work/cold"
  mkdir -p "$work/cold"
  cp -al "$cache/npm" "$work/cold/npm"
}

# measure NAME CMD...: appends "NAME seconds max_rss_kb" to the samples.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
    cat "$work/stderr" >&2
    return 1
  }
  echo "$name $(cat "$work/time")" >> "$work/samples"
}

for i in $(seq "$runs"); do
  say "run $i of $runs"
  # 1. cold build + push
  fresh_cache
  fresh_registry
  measure jib_cold env XDG_CACHE_HOME="$work/xdg-$i" "$jib" build "$spec" --platform linux/amd64 -q --cache-dir "$work/cold" --push "$reg/jib-cold-$i:latest"
  # 2. no-op rebuild + push (same cache, same target)
  measure jib_noop env XDG_CACHE_HOME="$work/xdg-$i" "$jib" build "$spec" --platform linux/amd64 -q --cache-dir "$work/cold" --push "$reg/jib-cold-$i:latest"
  # zstd variant of 1.
  fresh_cache
  fresh_registry
  measure jib_zstd_cold env XDG_CACHE_HOME="$work/xdg-z$i" "$jib" build "$spec" --platform linux/amd64 -q --compression zstd --cache-dir "$work/cold" --push "$reg/jib-zstd-$i:latest"

  rm -rf "$buildah_root"
  fresh_registry
  measure buildah_cold sh -c "buildah ${buildah_flags[*]} bud -q --isolation chroot -t bench:$i -f '$here/Dockerfile' '$ctx' && buildah ${buildah_flags[*]} push -q --tls-verify=false bench:$i docker://$reg/buildah-$i:latest"
  measure buildah_noop sh -c "buildah ${buildah_flags[*]} bud -q --isolation chroot -t bench:$i -f '$here/Dockerfile' '$ctx' && buildah ${buildah_flags[*]} push -q --tls-verify=false bench:$i docker://$reg/buildah-$i:latest"

  # 3. push of a built layout to an empty repository
  fresh_registry
  measure jib_push env XDG_CACHE_HOME="$work/xdg-p$i" "$jib" push -q "oci:$work/warmup:latest" "$reg/push-jib-$i:latest"
  fresh_registry
  measure skopeo_push skopeo copy -q --dest-tls-verify=false "oci:$work/warmup:latest" "docker://$reg/push-skopeo-$i:latest"

  # 4. compressing the 402 MB layer
  rm -rf "$work/gz"
  printf '[base]\nrootfs = "%s"\n' "$work/big.tar" > "$work/big.toml"
  measure jib_gzip "$jib" build "$work/big.toml" -q --cache-dir "$work/gz"
  measure pigz sh -c "pigz -6 -p 2 -c '$work/big.tar' > '$work/big.pigz'"
  measure gzip sh -c "gzip -6 -c '$work/big.tar' > '$work/big.gz'"
done
jib_gz_size=$(find "$work/gz/blobs/sha256" -type f -size +100M -printf '%s\n' | head -n 1)
pigz_size=$(stat -c %s "$work/big.pigz")
gzip_size=$(stat -c %s "$work/big.gz")

python3 - "$work/samples" "$here/RESULTS.md" "$runs" "$jib_gz_size" "$pigz_size" "$gzip_size" <<'PY'
import statistics, sys, platform, os
samples, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
jib_gz, pigz_gz, gzip_gz = map(int, sys.argv[4:7])
t, m = {}, {}
for line in open(samples):
    name, secs, rss = line.split()
    t.setdefault(name, []).append(float(secs))
    m.setdefault(name, []).append(int(rss))
med = {k: statistics.median(v) for k, v in t.items()}
rss = {k: max(v) / 1024 for k, v in m.items()}
def row(what, a, b, target):
    ratio = med[a] / med[b]
    return f"| {what} | {med[a]:.2f} s | {med[b]:.2f} s | {ratio:.3f} | {target} |"
lines = [
    "# Benchmarks",
    "",
    f"Written by `make bench`: medians of {runs} runs of each command, measured side by side",
    f"in one run on this machine ({os.cpu_count()} cores, {platform.machine()}).",
    "",
    "| what | jib-image | other | ratio | target |",
    "|---|---|---|---|---|",
    row("cold build + push (vs buildah build + push)", "jib_cold", "buildah_cold", "≤ 0.15"),
    row("no-op rebuild + push (vs buildah)", "jib_noop", "buildah_noop", "< 1 s and ≤ 0.02"),
    row("push of a built layout (vs skopeo copy)", "jib_push", "skopeo_push", "≤ 1.0"),
    row("gzip of the 402 MB layer (vs pigz -6 -p 2)", "jib_gzip", "pigz", "≤ 0.5"),
    row("gzip of the 402 MB layer (vs gzip -6)", "jib_gzip", "gzip", "—"),
    row("cold build + push, zstd (vs buildah)", "jib_zstd_cold", "buildah_cold", "≤ 0.06"),
    "",
    "| compressed size of the 402 MB layer | bytes | vs gzip -6 |",
    "|---|---|---|",
    f"| jib-image (gzip level 6, block-parallel) | {jib_gz} | {jib_gz / gzip_gz:.4f} |",
    f"| pigz -6 -p 2 | {pigz_gz} | {pigz_gz / gzip_gz:.4f} |",
    f"| gzip -6 | {gzip_gz} | 1.0000 |",
    "",
    "| peak RSS (max over runs) | MB |",
    "|---|---|",
] + [f"| {k} | {v:.1f} |" for k, v in sorted(rss.items())]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
