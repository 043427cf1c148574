#!/usr/bin/env bash
# join.sh [ZNODES] [SNAPCOUNT]
# How long a new member takes to join a 3-node Corral cluster holding ZNODES znodes (default
# 200000, 100 bytes each) with `corral cluster add`: from the request until the new member
# votes and /zookeeper/config names it (the command returns then). With a small SNAPCOUNT
# (e.g. 5000) the leader has purged its log and the member catches up by snapshot; with the
# default (100000) mostly from the log. Then removes a member the same way and checks all
# members hold the same tree (`hash`).
#
# Runs in a private network namespace (unshare -n, as root) on 127.0.0.11-14; everything it
# starts and creates is stopped and deleted at exit. $CORRAL_BIN, else target/release/corral.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
znodes="${1:-200000}"
snap="${2:-100000}"
bin="${CORRAL_BIN:-$root/target/release/corral}"
py="$root/compat/.venv/bin/python"
[ -x "$bin" ] || { echo "join.sh: no corral binary at $bin" >&2; exit 2; }
[ -x "$py" ] || "$root/compat/install-deps.sh" >/dev/null
if [ "${JOIN_IN_NETNS:-}" != 1 ]; then
  exec env JOIN_IN_NETNS=1 unshare -n "$0" "$@"
fi
ip link set lo up
dir="$(mktemp -d /tmp/corral-join.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

node() { # id, member ids...
  local n="$1"; shift
  mkdir -p "$dir/n$n/data"; echo "$n" > "$dir/n$n/data/myid"
  {
    echo tickTime=2000; echo initLimit=10; echo syncLimit=2; echo "snapCount=$snap"
    echo "dataDir=$dir/n$n/data"; echo clientPort=2181; echo "clientPortAddress=127.0.0.1$n"
    echo "4lw.commands.whitelist=*"; echo admin.enableServer=false; echo reconfigEnabled=true
    echo "superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU="  # super:test
    for m in "$@"; do echo "server.$m=127.0.0.1$m:2888:3888;127.0.0.1$m:2181"; done
  } > "$dir/n$n/zoo.cfg"
  (cd "$dir/n$n" && exec "$bin" serve --config zoo.cfg > server.log 2>&1) &
  pids+=($!)
}
for n in 1 2 3; do node "$n" 1 2 3; done
"$py" - "$znodes" <<'PY'
import sys, time
from kazoo.client import KazooClient
n = int(sys.argv[1])
zk = KazooClient(hosts="127.0.0.11:2181,127.0.0.12:2181,127.0.0.13:2181")
zk.start(timeout=30)
zk.ensure_path("/load")
t = time.time()
pending = []
for i in range(n):
    pending.append(zk.create_async("/load/n%07d" % i, b"x" * 100))
    if len(pending) >= 2000:
        for p in pending:
            p.get()
        pending = []
for p in pending:
    p.get()
print("join: loaded %d znodes in %.1f s" % (n, time.time() - t))
zk.stop()
PY
node 4 1 2 3 4
sleep 1
t0=$(date +%s%N)
"$bin" cluster --server 127.0.0.12:2181 --auth super:test add "server.4=127.0.0.14:2888:3888;127.0.0.14:2181" >/dev/null
t1=$(date +%s%N)
snaps=$(ls "$dir/n4/data/snapshots" 2>/dev/null | wc -l)
echo "join: member 4 voting after $(( (t1 - t0) / 1000000 )) ms ($znodes znodes, snapCount $snap, snapshots on the new member: $snaps)"
"$bin" cluster --server 127.0.0.11:2181 --auth super:test remove 2 >/dev/null
sleep 2
"$bin" cluster --server 127.0.0.13:2181 status
h1=$("$py" -c 'import socket,sys; s=socket.create_connection(("127.0.0.11",2181)); s.sendall(b"hash"); print(s.recv(200).decode().strip())')
ok=1
for n in 3 4; do
  h=$("$py" -c "import socket; s=socket.create_connection(('127.0.0.1$n',2181)); s.sendall(b'hash'); print(s.recv(200).decode().strip())")
  [ "$h" = "$h1" ] || { echo "join: node $n holds $h, node 1 $h1"; ok=0; }
done
[ "$ok" = 1 ] && echo "join: members 1, 3, 4 hold the same tree ($h1)"
[ "$ok" = 1 ]
