#!/usr/bin/env bash
# Pulls IMAGE with podman and runs it the way the launcher does: a fake
# credentials file mounted read-only, a runtime uid/gid of 1234. Prints the
# CLI's version and the mode and owner of the credentials copy, and fails
# unless they are what the image promises.
#
#   scripts/smoke.sh IMAGE [ARCH]
#
# ARCH (a Debian architecture, default this machine's) picks the image of a
# multi-platform index; a foreign one runs under qemu-user emulation, with
# --init and a timeout, since an emulated PID 1 may not die of a signal.
set -euo pipefail

image=${1:?usage: smoke.sh IMAGE [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
case $arch in
  amd64) want_machine=x86_64 ;;
  arm64) want_machine=aarch64 ;;
  *) want_machine=$arch ;;
esac
want_version=${WANT_VERSION:-2.1.332 (Claude Code)}
uid=1234

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Podman's defaults ask for ulimits this machine may not grant.
printf '[containers]\ndefault_ulimits = []\n' >"$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
podman=(podman --runtime runc --storage-driver=vfs)

# Fake tokens, all three scopes, valid for a day.
expires=$(( ($(date +%s) + 86400) * 1000 ))
cat >"$work/credentials.json" <<JSON
{"claudeAiOauth":{"accessToken":"fake-access-token","refreshToken":"fake-refresh-token","expiresAt":$expires,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"pro"}}
JSON
chmod 644 "$work/credentials.json"

"${podman[@]}" pull --quiet --tls-verify=false --platform "linux/$arch" "$image" >/dev/null

out=$(timeout -k 10 600 "${podman[@]}" run --rm --init --cgroup-manager=cgroupfs --net=none \
  --platform "linux/$arch" -e RUNTIME_UID=$uid -e RUNTIME_GID=$uid \
  -v "$work/credentials.json:/opt/host-claude-credentials.json:ro" \
  "$image" \
  bash -c 'uname -m; claude --version; stat -c "%a %u:%g" "$HOME/.claude/.credentials.json"')
echo "$out"

machine=$(sed -n 1p <<<"$out")
version=$(sed -n 2p <<<"$out")
stat=$(sed -n 3p <<<"$out")
status=0
if [ "$machine" != "$want_machine" ]; then
  echo "smoke.sh: uname -m printed '$machine', want '$want_machine'" >&2
  status=1
fi
if [ "$version" != "$want_version" ]; then
  echo "smoke.sh: claude --version printed '$version', want '$want_version'" >&2
  status=1
fi
if [ "$stat" != "600 $uid:$uid" ]; then
  echo "smoke.sh: credentials copy is '$stat', want '600 $uid:$uid'" >&2
  status=1
fi
[ $status -eq 0 ] && echo "smoke.sh: ok" >&2
exit $status
