#!/usr/bin/env bash
# start.sh PORT DATADIR — run a real Apache ZooKeeper 3.8 (Debian) standalone on 127.0.0.1:PORT.
# Data and logs live in DATADIR (re-using it keeps znodes and sessions: that is how restarts work).
# Prints the server pid once `ruok` answers `imok`.
# Env: ZK_TICK_TIME (ms, default 2000), ZK_CONTAINER_CHECK_MS (container/TTL reaper
# interval, default ZooKeeper's 60000), ZK_ADMIN_PORT (enables the AdminServer on
# 127.0.0.1:ZK_ADMIN_PORT, so /commands JSON can be compared), ZK_4LW_WHITELIST
# (default '*'), ZK_EXTENDED_TYPES (true|false, default true: TTL nodes on).
set -euo pipefail
port="${1:?usage: start.sh PORT DATADIR}"
dir="${2:?usage: start.sh PORT DATADIR}"
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"

if [ -f "$dir/zk.pid" ] && kill -0 "$(cat "$dir/zk.pid")" 2>/dev/null; then
  echo "start.sh: already running with pid $(cat "$dir/zk.pid")" >&2
  cat "$dir/zk.pid"; exit 0
fi

admin_on=false; [ -n "${ZK_ADMIN_PORT:-}" ] && admin_on=true
cat > "$dir/zoo.cfg" <<CFG
tickTime=${ZK_TICK_TIME:-2000}
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=${ZK_4LW_WHITELIST:-*}
admin.enableServer=$admin_on
admin.serverAddress=127.0.0.1
admin.serverPort=${ZK_ADMIN_PORT:-8080}
CFG

# slf4j-simple sends the server log to stderr -> $dir/zk.log
cp="/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
if [ -n "${ZK_ADMIN_PORT:-}" ]; then
  # The AdminServer needs Jetty and Jackson on the classpath (Debian ships them).
  for j in jetty9-server jetty9-servlet jetty9-http jetty9-io jetty9-util jetty9-security \
           jetty9-util-ajax servlet-api jackson-databind jackson-core jackson-annotations; do
    [ -f "/usr/share/java/$j.jar" ] && cp="$cp:/usr/share/java/$j.jar"
  done
fi
setsid java -Xmx512m \
  -Dzookeeper.4lw.commands.whitelist="${ZK_4LW_WHITELIST:-*}" \
  -Dzookeeper.extendedTypesEnabled="${ZK_EXTENDED_TYPES:-true}" \
  -Dznode.container.checkIntervalMs="${ZK_CONTAINER_CHECK_MS:-60000}" \
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
  case "$(ruok)" in imok|*"not in the whitelist"*) echo "$pid"; exit 0 ;; esac
  sleep 0.1
done
echo "start.sh: ZooKeeper did not answer ruok within 30s; see $dir/zk.log" >&2
exit 1
