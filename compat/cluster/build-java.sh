#!/usr/bin/env bash
# build-java.sh: compiles the Curator mutex worker (compat/cluster/java) with javac against
# Debian's Curator 5.4 / ZooKeeper 3.8 jars into compat/build/cluster, unless it is up to date,
# and prints that directory (the classpath entry). Used by run.sh and compat/docker/test.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jbuild="$(dirname "$here")/build/cluster"
jsrc="$here/java/corral/cluster/MutexWorker.java"
if [ ! -f "$jbuild/corral/cluster/MutexWorker.class" ] || [ "$jsrc" -nt "$jbuild/corral/cluster/MutexWorker.class" ]; then
  rm -rf "$jbuild"; mkdir -p "$jbuild"
  javac -nowarn -d "$jbuild" -cp "/usr/share/java/curator-recipes.jar:/usr/share/java/curator-framework.jar:/usr/share/java/curator-client.jar:/usr/share/java/zookeeper.jar" "$jsrc" >&2
fi
echo "$jbuild"
