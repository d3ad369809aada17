#!/usr/bin/env bash
# Runs a local registry (Debian's docker-registry) for `make image`.
#
#   scripts/registry.sh start ADDR DIR   start one on ADDR unless something
#                                        already answers there
#   scripts/registry.sh stop DIR         stop the one this script started
#
# DIR holds our own config (listening on ADDR only, never on every
# interface as the packaged config does), the data, the pid file and the log.
set -euo pipefail

answers() {
  local code
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$1/v2/" || true)
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

start() {
  local addr=$1 dir
  mkdir -p "$2"
  dir=$(cd "$2" && pwd)
  if answers "$addr"; then
    echo "registry.sh: a registry already answers on $addr" >&2
    return 0
  fi
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $addr
YAML
  setsid /usr/bin/docker-registry serve "$dir/config.yml" \
    </dev/null >>"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  for _ in $(seq 100); do
    if answers "$addr"; then
      echo "registry.sh: started on $addr (pid $(cat "$dir/registry.pid"), log $dir/registry.log)" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "registry.sh: the registry did not answer on $addr; log:" >&2
  tail -n 20 "$dir/registry.log" >&2
  return 1
}

stop() {
  local pidfile=$1/registry.pid pid
  if [ ! -f "$pidfile" ]; then
    echo "registry.sh: no registry started here ($pidfile missing)" >&2
    return 0
  fi
  pid=$(cat "$pidfile")
  # Only the process this script started, and only if it is still the
  # registry (a pid can be reused after a reboot).
  if kill -0 "$pid" 2>/dev/null &&
    grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "registry.sh: stopped pid $pid" >&2
  fi
  rm -f "$pidfile"
}

case ${1:-} in
  start) start "${2:?ADDR}" "${3:?DIR}" ;;
  stop) stop "${2:?DIR}" ;;
  *) echo "usage: registry.sh start ADDR DIR | stop DIR" >&2; exit 2 ;;
esac
