#!/usr/bin/env bash
# ctl.sh PORT DATADIR start|stop|restart|kill — run Corral the way the harnesses
# expect (they append start/stop to --restart-cmd). The binary is $CORRAL_BIN,
# by default target/release/corral. Settings match compat/zk/start.sh:
# every four-letter word, no per-IP connection limit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${1:?usage: ctl.sh PORT DATADIR start|stop|restart|kill}"; dir="${2:?}"; action="${3:?}"
bin="${CORRAL_BIN:-$root/target/release/corral}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

ruok() {
  python3 - "$port" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    s.sendall(b"ruok"); sys.exit(0 if s.recv(4) == b"imok" else 1)
except OSError:
    sys.exit(1)
PY
}

start() {
  if [ -f "$dir/corral.pid" ] && kill -0 "$(cat "$dir/corral.pid")" 2>/dev/null; then return 0; fi
  setsid "$bin" serve --client-addr "127.0.0.1:$port" --data-dir "$dir/data" \
    --max-client-cnxns 0 --four-letter-words '*' ${CORRAL_ARGS:-} \
    >>"$dir/corral.log" 2>&1 < /dev/null &
  echo $! > "$dir/corral.pid"
  for _ in $(seq 1 100); do ruok && return 0; sleep 0.05; done
  echo "ctl.sh: corral did not answer ruok on $port (see $dir/corral.log)" >&2; exit 1
}

stop() {
  local signal="$1"
  [ -f "$dir/corral.pid" ] || return 0
  local pid; pid="$(cat "$dir/corral.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  fi
  rm -f "$dir/corral.pid"
}

case "$action" in
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart) stop TERM; start ;;
  *) echo "ctl.sh: unknown action $action" >&2; exit 2 ;;
esac
