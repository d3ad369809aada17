#!/usr/bin/env bash
# Pulls IMAGE with podman and runs it the way the launcher does: a fake
# credentials file mounted read-only, a runtime uid/gid of 1234. Prints the
# CLI's version and the mode and owner of the credentials copy, and fails
# unless they are what the image promises.
#
#   scripts/smoke.sh IMAGE
set -euo pipefail

image=${1:?usage: smoke.sh IMAGE}
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

"${podman[@]}" pull --quiet --tls-verify=false "$image" >/dev/null

out=$("${podman[@]}" run --rm --cgroup-manager=cgroupfs --net=none \
  -e RUNTIME_UID=$uid -e RUNTIME_GID=$uid \
  -v "$work/credentials.json:/opt/host-claude-credentials.json:ro" \
  "$image" \
  bash -c 'claude --version; stat -c "%a %u:%g" "$HOME/.claude/.credentials.json"')
echo "$out"

version=$(sed -n 1p <<<"$out")
stat=$(sed -n 2p <<<"$out")
status=0
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
