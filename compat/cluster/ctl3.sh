#!/usr/bin/env bash
# ctl3.sh DIR start|stop|status       — the whole 3-node ensemble
# ctl3.sh DIR start|stop|kill N       — node N (1..3) only
#
# Runs a 3-node ensemble on 127.0.0.11-13 (client port 2181, peer ports 2888/3888 on each),
# node N in DIR/nN (zoo.cfg, data/ with myid, server.log, pid). The shape the harnesses'
# --restart-cmd expects: kazoo's plugin appends "stop N" / "start N" (or "stop" / "start").
#
# start    starts every node that is not running (writes zoo.cfg + myid the first time), then
#          waits until every running node answers `srvr` with Mode leader/follower and exactly
#          one of them leads (60 s at most; exit 1 and the log tails otherwise).
# start N  the same for node N alone; waits the same way over all running nodes.
# stop     SIGTERM every node at once, waits (SIGKILL after 15 s). stop N: node N only.
# kill N   SIGKILL node N. status: each node's pid and mode.
# Re-using DIR keeps data and sessions (a restart of all nodes, or of one, loses nothing).
#
# Env: CTL3_TARGET=corral (default: $CORRAL_BIN, else target/release/corral of this repo) or zk
#      (Apache ZooKeeper 3.8 from Debian, QuorumPeerMain, for checking the harness);
#      CTL3_TICK_MS (default 2000, as kazoo's own test cluster and a single Corral: sessions
#      4-40 s); CTL3_READ_ONLY=1 turns read-only mode on (readonlymode.enabled: a node cut
#      off serves read-only clients); CTL3_RECONFIG=1 turns reconfig on (reconfigEnabled, with
#      the super user super:test); RUST_LOG (default info).
# Runs in whatever network namespace it is called in (kazoo3.sh calls it in a private one):
# 127.0.0.11-13 are loopback addresses on Linux and need no set-up.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
usage() { echo "usage: ctl3.sh DIR start|stop|status [N] | kill N" >&2; exit 2; }
dir="${1:-}"; action="${2:-}"; node="${3:-}"
[ -n "$dir" ] && [ -n "$action" ] || usage
case "$node" in ""|1|2|3) ;; *) usage ;; esac
if [ ! -d "$dir" ]; then
  [ "$action" = start ] || exit 0  # nothing was ever started there
  mkdir -p "$dir"
fi
dir="$(cd "$dir" && pwd)"
target="${CTL3_TARGET:-corral}"
tick="${CTL3_TICK_MS:-2000}"
read_only="${CTL3_READ_ONLY:-0}"
reconfig="${CTL3_RECONFIG:-0}"
# super:test, the super user kazoo's reconfig tests log in as
super_digest="super:D/InIHSb7yEEbrWz8b9l71RjZJU="
all=(1 2 3)

addr() { echo "127.0.0.1$1"; }
pidof_node() { cat "$dir/n$1/pid" 2>/dev/null || true; }
# a node we started is re-parented to init once this script exits, and stays a zombie until init
# reaps it (up to ~1.5 s here): count a zombie as gone
running() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
alive() { local p; p="$(pidof_node "$1")"; [ -n "$p" ] && running "$p"; }

write_config() {
  local n="$1" d="$dir/n$1"
  [ -f "$d/zoo.cfg" ] && return 0
  mkdir -p "$d/data"
  echo "$n" > "$d/data/myid"
  {
    echo "tickTime=$tick"
    echo "initLimit=10"
    echo "syncLimit=2"
    echo "dataDir=$d/data"
    echo "clientPort=2181"
    echo "clientPortAddress=$(addr "$n")"
    echo "maxClientCnxns=0"
    echo "4lw.commands.whitelist=*"
    echo "admin.enableServer=false"
    # ZooKeeper takes it as a system property only (below); Corral reads it here too
    [ "$read_only" = 1 ] && [ "$target" = corral ] && echo "readonlymode.enabled=true"
    # ZooKeeper's read-only server cannot grant a new session unless sessions may be local
    # (what kazoo's own test cluster sets for its read-only test only: local sessions change
    # other tests' outcomes, e.g. the request-queuing ones expire), so only on request
    [ "$read_only" = 1 ] && [ "$target" = zk ] && [ "${CTL3_ZK_LOCAL_SESSIONS:-0}" = 1 ] &&
      printf '%s\n' localSessionsEnabled=true localSessionsUpgradingEnabled=true
    if [ "$reconfig" = 1 ]; then
      echo "reconfigEnabled=true"
      # ZooKeeper takes the super user as a system property only (below)
      [ "$target" = corral ] && echo "superDigest=$super_digest"
    fi
    for m in "${all[@]}"; do echo "server.$m=$(addr "$m"):2888:3888;$(addr "$m"):2181"; done
  } > "$d/zoo.cfg"
}

start_node() {
  local n="$1" d="$dir/n$1"
  alive "$n" && return 0
  write_config "$n"
  local cmd
  case "$target" in
    corral)
      local bin="${CORRAL_BIN:-$root/target/release/corral}"
      [ -x "$bin" ] || { echo "ctl3.sh: no corral binary at $bin (set CORRAL_BIN)" >&2; exit 2; }
      bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"  # the node runs in its dir
      cmd=("$bin" serve --config "$d/zoo.cfg") ;;
    zk)
      # as compat/zk/start.sh: TTL nodes on (kazoo tests them), log to stderr via slf4j-simple
      cmd=(java -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData
           -Dzookeeper.4lw.commands.whitelist='*' -Dzookeeper.extendedTypesEnabled=true
           -Dzookeeper.admin.enableServer=false -Dreadonlymode.enabled="$([ "$read_only" = 1 ] && echo true || echo false)"
           -Dzookeeper.DigestAuthenticationProvider.superDigest="$super_digest"
           -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true
           -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
           org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg") ;;
    *) echo "ctl3.sh: unknown CTL3_TARGET $target" >&2; exit 2 ;;
  esac
  printf '\n==== start %s\n' "$(date +%T.%N | cut -c1-12)" >> "$d/server.log"
  (cd "$d" && RUST_LOG="${RUST_LOG:-info}" exec setsid "${cmd[@]}" >>"$d/server.log" 2>&1 </dev/null) &
  echo $! > "$d/pid"
}

# wait until every running node serves (leader/follower) and exactly one of them leads
wait_serving() {
  local nodes=() n
  for n in "${all[@]}"; do alive "$n" && nodes+=("$n"); done
  ((${#nodes[@]})) || return 0
  if ! python3 -B - "$here" "$dir" "${nodes[@]}" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import cluster
d = sys.argv[2]
def alive(n):  # running and not a zombie
    try:
        with open(os.path.join(d, f"n{n}", "pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False
try:
    cluster.wait_serving([int(x) for x in sys.argv[3:]], 60.0, alive)
except RuntimeError as e:
    print(f"ctl3.sh: {e}", file=sys.stderr)
    sys.exit(1)
PY
  then
    for n in "${all[@]}"; do
      echo "--- node $n ($dir/n$n/server.log):" >&2
      tail -n 15 "$dir/n$n/server.log" >&2 2>/dev/null || true
    done
    exit 1
  fi
}

# stop_nodes SIGNAL N... — signal them all at once, then wait for each (SIGKILL after 15 s)
stop_nodes() {
  local sig="$1" n p; shift
  for n in "$@"; do
    alive "$n" || continue
    p="$(pidof_node "$n")"
    kill -CONT "$p" 2>/dev/null || true
    kill "-$sig" "$p" 2>/dev/null || true
  done
  for n in "$@"; do
    p="$(pidof_node "$n")"
    if [ -n "$p" ]; then
      for _ in $(seq 1 300); do running "$p" || break; sleep 0.05; done
      running "$p" && kill -KILL "$p" 2>/dev/null
      while running "$p"; do sleep 0.02; done
    fi
    rm -f "$dir/n$n/pid"
  done
}

nodes=("${all[@]}"); [ -n "$node" ] && nodes=("$node")
case "$action" in
  start) for n in "${nodes[@]}"; do start_node "$n"; done; wait_serving ;;
  stop) stop_nodes TERM "${nodes[@]}" ;;
  kill) [ -n "$node" ] || usage; stop_nodes KILL "$node" ;;
  status)
    for n in "${nodes[@]}"; do
      m="$(python3 -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import cluster; print(cluster.mode(int(sys.argv[2])))' "$here" "$n")"
      echo "node $n: pid $(alive "$n" && pidof_node "$n" || echo -), mode $m"
    done ;;
  *) usage ;;
esac
