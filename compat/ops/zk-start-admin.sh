#!/usr/bin/env bash
# zk-start-admin.sh PORT ADMINPORT DIR — like compat/zk/start.sh, but with ZooKeeper's
# AdminServer (Jetty) enabled on 127.0.0.1:ADMINPORT, so /commands JSON can be compared.
# Stop it with compat/zk/stop.sh DIR.
set -euo pipefail
port="${1:?usage: zk-start-admin.sh PORT ADMINPORT DIR}"
admin="${2:?usage: zk-start-admin.sh PORT ADMINPORT DIR}"
dir="${3:?usage: zk-start-admin.sh PORT ADMINPORT DIR}"
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"
if [ -f "$dir/zk.pid" ] && kill -0 "$(cat "$dir/zk.pid")" 2>/dev/null; then
  cat "$dir/zk.pid"; exit 0
fi
cat > "$dir/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=true
admin.serverAddress=127.0.0.1
admin.serverPort=$admin
CFG
# The AdminServer needs Jetty and Jackson on the classpath (Debian ships them).
cp="/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
for j in jetty9-server jetty9-servlet jetty9-http jetty9-io jetty9-util jetty9-security \
         jetty9-util-ajax servlet-api jackson-databind jackson-core jackson-annotations; do
  [ -f "/usr/share/java/$j.jar" ] && cp="$cp:/usr/share/java/$j.jar"
done
setsid java -Xmx512m \
  -Dzookeeper.4lw.commands.whitelist='*' \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
  -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
  >>"$dir/zk.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$dir/zk.pid"
for _ in $(seq 1 300); do
  kill -0 "$pid" 2>/dev/null || { echo "ZooKeeper exited; see $dir/zk.log" >&2; tail -20 "$dir/zk.log" >&2; exit 1; }
  if curl -sf "http://127.0.0.1:$admin/commands/ruok" >/dev/null 2>&1; then echo "$pid"; exit 0; fi
  sleep 0.1
done
echo "AdminServer did not answer within 30s; see $dir/zk.log" >&2; exit 1
