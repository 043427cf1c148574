#!/usr/bin/env bash
# stop.sh DATADIR — stop the ZooKeeper started by start.sh with the same DATADIR (data is kept).
set -euo pipefail
dir="${1:?usage: stop.sh DATADIR}"
pidfile="$dir/zk.pid"
[ -f "$pidfile" ] || exit 0
pid="$(cat "$pidfile")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
fi
rm -f "$pidfile"
