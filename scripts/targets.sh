#!/usr/bin/env bash
# Adds the Rust targets named on the command line when rustup lacks them.
#
#   scripts/targets.sh TARGET...
set -euo pipefail
installed=$(rustup target list --installed)
for target in "$@"; do
  grep -qx "$target" <<<"$installed" || rustup target add "$target"
done
