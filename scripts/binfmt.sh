#!/usr/bin/env bash
# Lets this machine run binaries of the Debian architectures named on the
# command line through qemu-user (binfmt_misc), as mmdebstrap and podman
# need for a foreign platform. Needs root once per boot.
#
#   scripts/binfmt.sh ARCH...
set -euo pipefail
for arch in "$@"; do
  case $arch in
    arm64) name=qemu-aarch64 ;;
    *) name=qemu-$arch ;;
  esac
  if [ -r "/proc/sys/fs/binfmt_misc/$name" ] && grep -q '^enabled' "/proc/sys/fs/binfmt_misc/$name"; then
    continue
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "binfmt.sh: $arch binaries do not run here; as root run: scripts/binfmt.sh $arch" >&2
    exit 1
  fi
  [ -e /proc/sys/fs/binfmt_misc/register ] ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable "$name"
done
