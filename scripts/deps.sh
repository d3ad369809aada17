#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not
# installed yet. As root it runs `apt-get update` once and `apt-get install`;
# otherwise it prints the command to run and fails.
#
#   scripts/deps.sh PACKAGE...
set -euo pipefail

missing=()
for package in "$@"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

# One index update per machine run is enough; a marker under /tmp keeps
# repeated calls (one per make target) from updating again.
marker=/tmp/jib-image-apt-updated.$(id -u)
if [ ! -e "$marker" ]; then
  apt-get update
  touch "$marker"
fi
echo "deps.sh: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
