#!/usr/bin/env bash
# run.sh HOST:PORT — Curator 5.4 recipe checks against a ZooKeeper-compatible server.
# Each check prints PASS/FAIL lines; exits non-zero if any check fails.
# Tunables (JVM system properties via CURATOR_OPTS), e.g. CURATOR_OPTS="-Diters=100".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:?usage: run.sh HOST:PORT}"
"$here/../install-deps.sh" >/dev/null
"$here/build.sh"
cp="$here/../build/curator:/usr/share/java/curator-recipes.jar:/usr/share/java/curator-framework.jar:/usr/share/java/curator-client.jar:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar"
failed=()
for check in MutexCheck LeaderLatchCheck SemaphoreCheck AtomicLongCheck CacheCheck PersistentNodeCheck; do
  echo "== curator $check"
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  if ! timeout 600 java ${CURATOR_OPTS:-} -cp "$cp" "corral.compat.$check" "$target"; then
    failed+=("$check")
  fi
  echo "     ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
done
if ((${#failed[@]})); then
  echo "CURATOR SUMMARY: FAIL (${failed[*]})"; exit 1
fi
echo "CURATOR SUMMARY: all 6 checks passed"
