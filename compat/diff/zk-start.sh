#!/usr/bin/env bash
# zk-start.sh PORT DATADIR — compat/zk/start.sh with a settable tickTime (ZK_TICK_TIME)
# and container/TTL check interval (ZK_CONTAINER_CHECK_MS), for corral-diff.
# Data and logs live in DATADIR (re-using it keeps znodes and sessions: that is how restarts work).
# Prints the server pid once `ruok` answers `imok`.
set -euo pipefail
port="${1:?usage: start.sh PORT DATADIR}"
dir="${2:?usage: start.sh PORT DATADIR}"
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"

if [ -f "$dir/zk.pid" ] && kill -0 "$(cat "$dir/zk.pid")" 2>/dev/null; then
  echo "start.sh: already running with pid $(cat "$dir/zk.pid")" >&2
  cat "$dir/zk.pid"; exit 0
fi

cat > "$dir/zoo.cfg" <<CFG
tickTime=${ZK_TICK_TIME:-2000}
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
CFG

# slf4j-simple sends the server log to stderr -> $dir/zk.log
cp="/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
setsid java -Xmx512m \
  -Dzookeeper.4lw.commands.whitelist='*' \
  -Dzookeeper.extendedTypesEnabled=true \
  -Dznode.container.checkIntervalMs=${ZK_CONTAINER_CHECK_MS:-60000} \
  -Dzookeeper.admin.enableServer=false \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
  -Dorg.slf4j.simpleLogger.showDateTime=true \
  -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
  >>"$dir/zk.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$dir/zk.pid"

ruok() { # prints the 4lw reply, or nothing
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 0
  printf ruok >&3; timeout 2 cat <&3 || true; exec 3<&- 3>&-
}
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start.sh: ZooKeeper exited; see $dir/zk.log" >&2; tail -20 "$dir/zk.log" >&2; exit 1
  fi
  [ "$(ruok)" = imok ] && { echo "$pid"; exit 0; }
  sleep 0.1
done
echo "start.sh: ZooKeeper did not answer ruok within 30s; see $dir/zk.log" >&2
exit 1
