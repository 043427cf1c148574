#!/usr/bin/env bash
# build.sh — compile the Curator checks (javac against Debian's Curator 5.4 + ZooKeeper 3.8 jars)
# into compat/build/curator. Re-compiles only when a source is newer than the build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../build/curator"
# the Debian jars' manifests pull in guava, slf4j-api, zookeeper-jute, netty, ...
export CURATOR_CP="/usr/share/java/curator-recipes.jar:/usr/share/java/curator-framework.jar:/usr/share/java/curator-client.jar:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar"
stamp="$out/.built"
if [ -f "$stamp" ] && [ -z "$(find "$here/src" -name '*.java' -newer "$stamp")" ]; then
  exit 0
fi
rm -rf "$out"; mkdir -p "$out"
javac -nowarn -d "$out" -cp "$CURATOR_CP" $(find "$here/src" -name '*.java') 2>&1 | grep -v '^Note:' || true
[ -f "$out/corral/compat/Check.class" ] || { echo "build.sh: javac failed" >&2; exit 1; }
touch "$stamp"
