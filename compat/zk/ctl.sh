#!/usr/bin/env bash
# ctl.sh PORT DATADIR start|stop|restart — the shape the harnesses' --restart-cmd expects:
# they append "stop" or "start", e.g. --restart-cmd "compat/zk/ctl.sh 2181 /tmp/zk".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:?usage: ctl.sh PORT DATADIR start|stop|restart}"; dir="${2:?}"; action="${3:?}"
case "$action" in
  start) "$here/start.sh" "$port" "$dir" >/dev/null ;;
  stop) "$here/stop.sh" "$dir" ;;
  restart) "$here/stop.sh" "$dir"; "$here/start.sh" "$port" "$dir" >/dev/null ;;
  *) echo "ctl.sh: unknown action $action" >&2; exit 2 ;;
esac
