#!/usr/bin/env bash
# zktop.sh HOST:PORT — run Debian's zktop (a curses ZooKeeper monitor that
# parses `stat`) under tmux against the server, and check the screen shows
# what it parsed: the node count, standalone mode and our connection.
set -euo pipefail
target="${1:?usage: zktop.sh HOST:PORT}"
port="${target##*:}"
session="zktop-$$"
tmux new-session -d -s "$session" -x 150 -y 30 "zktop --servers=$target -l ''"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
screen=""
for _ in $(seq 1 50); do
  screen="$(tmux capture-pane -p -t "$session")"
  grep -q "nodecount:" <<<"$screen" && grep -qE "^0 +[0-9.]+ +$port S " <<<"$screen" && break
  sleep 0.1
done
echo "$screen" | sed '/^$/d'
if grep -qE "nodecount:[0-9]+ zxid:0x[0-9a-f]+ sessions:[0-9]+" <<<"$screen" \
   && grep -qE "^0 +[0-9.]+ +$port S +[0-9]+ +[0-9]+ +[0-9]+ +[1-9]" <<<"$screen"; then
  echo "ZKTOP SUMMARY: PASS (zktop parsed stat: node count, zxid, standalone mode, connections)"
else
  echo "ZKTOP SUMMARY: FAIL (zktop could not parse the server's stat output)"; exit 1
fi
