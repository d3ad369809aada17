#!/usr/bin/env bash
# Makes a Debian rootfs tarball with mmdebstrap, cached in the user's cache
# directory under a name keyed by suite, variant, architecture and package
# list, and links it at LINK.
#
#   scripts/base.sh SUITE PACKAGE_LIST LINK
#
# PACKAGE_LIST holds one package per line (# comments allowed); an empty
# list gives the bare variant. VARIANT (default apt) picks mmdebstrap's
# variant; ARCH (default: this machine's) the Debian architecture, which
# for a foreign one needs qemu-user binfmt. The apt sources are the build machine's own: every active file
# under /etc/apt that names SUITE is handed to mmdebstrap, so no mirror is
# written here.
set -euo pipefail

suite=${1:?usage: base.sh SUITE PACKAGE_LIST LINK}
list=${2:?usage: base.sh SUITE PACKAGE_LIST LINK}
link=${3:?usage: base.sh SUITE PACKAGE_LIST LINK}
variant=${VARIANT:-apt}
arch=${ARCH:-$(dpkg --print-architecture)}

# A fixed timestamp, so that two builds from the same archive state give
# the same tarball.
export SOURCE_DATE_EPOCH=${BASE_SOURCE_DATE_EPOCH:-1704067200}

# One package a line; `NAME [arch ...]` keeps NAME for those architectures
# only (ltrace, say, is not built for arm64).
packages=$(sed -e 's/#.*//' "$list" | awk -v arch="$arch" '
  NF == 0 { next }
  /\[/ {
    line = $0; sub(/^[^[]*\[/, "", line); sub(/\].*$/, "", line)
    if (index(" " line " ", " " arch " ") == 0) next
  }
  { print $1 }' | sort -u | paste -sd, -)
key=$(printf '%s\n' "$suite" "$variant" "$arch" "$packages" "$SOURCE_DATE_EPOCH" |
  sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/jib-image/base
tarball=$cache/$suite-$variant-$arch-$key.tar

sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  if [ -f "$f" ] && grep -Eq "^[^#]*\b$suite\b" "$f"; then
    sources+=("$f")
  fi
done
if [ ${#sources[@]} -eq 0 ]; then
  echo "base.sh: no apt source under /etc/apt names '$suite'" >&2
  exit 1
fi

if [ ! -f "$tarball" ]; then
  mkdir -p "$cache"
  tmp=$tarball.tmp.$$
  trap 'rm -f "$tmp"' EXIT
  echo "base.sh: building $tarball" >&2
  mmdebstrap ${MMDEBSTRAP_FLAGS:---quiet} --variant="$variant" --architectures="$arch" --format=tar \
    ${packages:+--include="$packages"} \
    "$suite" "$tmp" "${sources[@]}"
  # Renamed only when complete, so an interrupted build leaves no tarball
  # that a later run would take for a good one.
  mv "$tmp" "$tarball"
  trap - EXIT
fi

mkdir -p "$(dirname "$link")"
ln -sfn "$tarball" "$link"
echo "$tarball"
